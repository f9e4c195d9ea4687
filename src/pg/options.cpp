#include "pg/options.hpp"

namespace connpool {
namespace {

constexpr int64_t kMaxStringLength = 4096;

const OptionField<PgOptions> kFields[] = {
    {{"reset_query", OptionKind::string, 0, kMaxStringLength,
      "SQL run on every returned connection before reuse, after the session reset chosen by "
      "`reset` and before init_sql is re-applied (empty = none)"},
     nullptr,
     nullptr,
     &PgOptions::reset_query},
    {{"statement_cache_size", OptionKind::integer, 0, 10'000,
      "prepared statements kept per connection by connpool_lease_exec/_send, least recently "
      "used evicted (0 = no prepared statements, e.g. behind PgBouncer < 1.21 in transaction "
      "mode)"},
     &PgOptions::statement_cache_size},
    {{"prepare_threshold", OptionKind::integer, 0, 1'000'000,
      "executions of a statement text on a connection before it is prepared there (0 = prepare "
      "on the first execution)"},
     &PgOptions::prepare_threshold},
    {{"init_sql", OptionKind::string, 0, kMaxStringLength,
      "SQL run on every new connection before its first use, within connect_timeout; a failure "
      "is a failed connect carrying its SQLSTATE (empty = none)"},
     nullptr,
     nullptr,
     &PgOptions::init_sql},
    {{"replica_max_lag", OptionKind::duration_ms, 0, 86'400'000,
      "pool groups: read-only leases skip a standby whose replay lags the primary by more than "
      "this (now() - pg_last_xact_replay_timestamp(), as of the last check; 0 = no bound)"},
     &PgOptions::replica_max_lag_ms},
    {{"replica_check_interval", OptionKind::duration_ms, 50, 3'600'000,
      "pool groups: how often each node's role (pg_is_in_recovery()), health and replica lag "
      "are checked, through one of that node's pooled connections"},
     &PgOptions::replica_check_interval_ms},
    {{"reset", OptionKind::choice, 0, 0,
      "what a returned connection's session goes through before the next lease: auto (a full "
      "reset, keeping the pool's prepared statements and re-applying init_sql, after any lease "
      "that may have changed the session), always (after every lease), rollback (only an open "
      "transaction is rolled back; SET, temporary tables, locks... reach the next lease)",
      "auto,always,rollback"},
     nullptr,
     nullptr,
     &PgOptions::reset},
    {{"cancel_timeout", OptionKind::duration_ms, 10, 600'000,
      "how long a cancel request may take (connect to the server, send the request, see it "
      "taken) before it is given up"},
     &PgOptions::cancel_timeout_ms},
    {{"multiplexing_connections", OptionKind::integer, 0, 64,
      "connections (taken from max_size when the first multiplexed statement runs) shared by "
      "connpool_pool_exec: statements without a lease, pipelined from many callers in autocommit "
      "(0 = multiplexing off)"},
     &PgOptions::multiplexing_connections},
};

}  // namespace

std::span<const OptionField<PgOptions>> pg_option_fields() {
    return kFields;
}

}  // namespace connpool
