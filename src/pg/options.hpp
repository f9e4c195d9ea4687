// Options of the PostgreSQL side (they mean nothing to the generic pool), described and set by
// key like the pool's own (core/options.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/option_table.hpp"

namespace connpool {

struct PgOptions {
    std::string reset_query;  // empty = none
    // What happens to a returned connection's session (pg/session_reset.hpp): "auto" resets it
    // when the lease may have changed it, "always" after every lease, "rollback" only ends an
    // open transaction.
    std::string reset = "auto";
    // How long connpool_lease_cancel (and the bindings' cancellation) waits for the server to
    // take a cancel request.
    int64_t cancel_timeout_ms = 5'000;
    // Connections of the pool shared by multiplexed statements (connpool_pool_exec), taken from
    // max_size when the first one runs; 0 = multiplexing off.
    int64_t multiplexing_connections = 0;
    // Per-connection prepared-statement cache used by connpool_lease_exec/_send: statements
    // kept prepared per connection (0 disables the cache), and how many unprepared executions
    // of a statement text come before it is prepared (0 = prepare on the first).
    int64_t statement_cache_size = 100;
    int64_t prepare_threshold = 5;
    std::string init_sql;  // empty = none
    // Pool groups (pg/pool_group.hpp): a standby whose replay lags more than this is skipped by
    // read-only leases (0 = no bound), and how often every node's role, health and lag are
    // checked. Plain pools ignore both.
    int64_t replica_max_lag_ms = 0;
    int64_t replica_check_interval_ms = 1'000;
};

std::span<const OptionField<PgOptions>> pg_option_fields();

}  // namespace connpool
