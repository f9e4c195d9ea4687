// One statement on a pooled libpq connection, through its prepared-statement cache: sent
// without blocking (send_statement), advanced as the socket allows (collect_statement), or run
// to completion (run_query). The header does not include libpq: the C API calls these.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "pg/result.hpp"

namespace connpool {

class PgConnection;

// Starts `sql` with text parameters without waiting for the server (libpq is switched to
// non-blocking mode until the statement is collected). A cached prepared statement is
// executed by name; a text seen prepare_threshold times is prepared in the same round trip;
// evicted statements are deallocated in that round trip too when the session is idle.
// OK, or INVALID_ARGUMENT (a statement is already pending) / CONNECTION_BROKEN.
connpool_status send_statement(PgConnection &pg, const char *sql, int32_t n_params,
                               const char *const *params, Error &error);

// Reads what has arrived and advances the pending statement. IN_PROGRESS while it is not
// finished (wait for statement_wait_events() on PQsocket), otherwise the final outcome as
// run_query returns it. INVALID_ARGUMENT if no statement is pending.
connpool_status collect_statement(PgConnection &pg, std::unique_ptr<QueryResult> &out,
                                  Error &error);

// What the pending statement waits for: kWaitRead | kWaitWrite (0 if none is pending).
constexpr int32_t kWaitRead = 1;
constexpr int32_t kWaitWrite = 2;
int32_t statement_wait_events(PgConnection &pg);

// Runs `sql` to completion (send, then wait on the socket and collect). Returns OK or
// QUERY_FAILED with `out` set, or CONNECTION_BROKEN / INVALID_ARGUMENT with `out` empty;
// `error` gets the details on failure.
connpool_status run_query(PgConnection &pg, const char *sql, int32_t n_params,
                          const char *const *params, std::unique_ptr<QueryResult> &out,
                          Error &error);

}  // namespace connpool
