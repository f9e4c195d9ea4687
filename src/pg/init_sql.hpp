// init_sql: the statements a pool runs on each new connection (HikariCP's connectionInitSql,
// pgx's AfterConnect), bounded by the connect deadline.
#pragma once

#include <atomic>
#include <string>

#include <libpq-fe.h>

#include "core/clock.hpp"
#include "core/connector.hpp"

namespace connpool {

// Runs `sql` (one or more statements, simple query protocol) on a freshly opened `conn` and
// drains every result, never blocking past `deadline` and giving up soon after `abandon`. On
// success the connection is idle, outside any transaction. On failure fills `failure` with the
// first error's SQLSTATE and a message naming init_sql (`password` scrubbed from it); the
// connection must then be closed.
bool run_init_sql(PGconn *conn, const std::string &sql, TimePoint deadline,
                  const std::atomic<bool> &abandon, const std::string &password,
                  ConnectFailure &failure);

}  // namespace connpool
