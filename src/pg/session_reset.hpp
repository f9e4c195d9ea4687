// The `reset` option: what a returned connection's session goes through before the next lease.
//
//   rollback  only an open transaction is rolled back (the behaviour before `reset` existed): SET,
//   temporary
//             tables, advisory locks, LISTEN, cursors and the caller's prepared statements stay
//             for the next lease holder. Only a changed session_authorization closes it.
//   always    a full reset after every lease.
//   auto      (default) a full reset after any lease that may have changed its session: one of
//             its statements was not classified neutral (pg/session_effects.hpp), the raw PGconn
//             was taken, or session_authorization differs from the connection's own.
//
// The full reset is one simple-query exchange that keeps the pool's own prepared statements
// (the statement cache); init_sql is then run again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace connpool {

enum class ResetMode : uint8_t { auto_, always, rollback };

// From the option's value ("auto", "always", "rollback"; anything else: auto).
ResetMode parse_reset_mode(std::string_view value);

// The full reset's SQL for a connection whose own prepared statements are named
// `cache_prefix`...: ends any transaction (when `in_transaction`), then SET SESSION
// AUTHORIZATION DEFAULT; RESET ALL; CLOSE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all();
// DISCARD TEMP; DISCARD SEQUENCES; deallocates every other prepared statement. init_sql is run
// after it as an exchange of its own (it may hold statements not allowed in a transaction block).
std::string full_reset_sql(bool in_transaction, std::string_view cache_prefix);

// A query whose one value is the settings changed in this session (pg_settings source
// "session": SET, set_config) and the role (SET ROLE), as statements each preceded by ';':
// appended to the full reset, they make those settings the connection's own
// (connpool_lease_keep_session). Session authorization is not kept.
extern const char *const kSessionBaselineQuery;

}  // namespace connpool
