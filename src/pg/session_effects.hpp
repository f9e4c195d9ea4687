// Whether a SQL text may change its session beyond the current transaction (SET, temporary
// tables, advisory locks, LISTEN, cursors, PREPARE, set_config(), role...): a small lexical
// scanner, no parser. The pool resets a connection's session after a lease only when one of
// its statements may have (reset=auto, pg/session_reset.hpp), so the scanner errs on the safe
// side: anything it does not recognise as harmless counts as a change. A false positive costs
// one reset; the false negatives it cannot see are listed in the README ("Session reset").
#pragma once

#include <string_view>

namespace connpool {

// True unless every statement in `sql` is a plain query or DML (SELECT, INSERT, UPDATE,
// DELETE, MERGE, WITH, VALUES, TABLE, SHOW, EXPLAIN, FETCH, transaction control...) whose only
// function calls are on a short list of builtins known not to touch session state.
bool may_change_session(std::string_view sql);

}  // namespace connpool
