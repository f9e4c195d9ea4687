#include "pg/direct_connection.hpp"

#include <chrono>
#include <thread>

#include <spdlog/logger.h>

#include "pg/connector.hpp"
#include "pg/conninfo.hpp"

namespace connpool {
namespace {

// The private pool's options: the caller's, with every sizing and background policy pinned to
// "one connection, opened on demand, tried once, never recycled".
PoolOptions direct_pool_options(PoolOptions options) {
    options.min_size = 0;
    options.max_size = 1;
    options.max_overflow = 0;
    options.max_concurrent_connects = 1;
    options.breaker_threshold = 1;  // the first failed attempt ends the acquire at once
    options.max_lifetime_ms = 0;
    options.max_idle_ms = 0;
    options.pre_ping = false;
    options.max_waiting = 0;
    options.keepalive_interval_ms = 0;
    options.min_idle = 0;
    options.target_utilisation = 0;
    if (options.name == PoolOptions{}.name) options.name = "direct";
    return options;
}

// Why the acquire failed, from the connector's own record of the attempt (it has the
// SQLSTATE, which the pool's acquire error does not carry).
Error connect_error(const PgConnector &connector, connpool_status status, Error acquire_error,
                    int64_t timeout_ms) {
    LastConnectFailure last;
    bool attempted = connector.last_failure(last);
    // The acquire's wait began a moment before the connect it waited for: when it timed out,
    // that connect is ending too. Its record names what ran out of time; wait briefly for it.
    for (int i = 0; i < 20 && status == CONNPOOL_ERR_TIMEOUT && !attempted; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        attempted = connector.last_failure(last);
    }
    if (status == CONNPOOL_ERR_TIMEOUT || (attempted && last.timed_out)) {
        // The connector names the step that ran out of time when it knows it (host-name
        // resolution).
        static const std::string kReasonPrefix = "could not connect within connect_timeout: ";
        const bool has_reason = attempted && last.failure.message.rfind(kReasonPrefix, 0) == 0;
        return {CONNPOOL_ERR_TIMEOUT,
                "could not connect within connect_timeout (" + std::to_string(timeout_ms) + " ms)" +
                    (has_reason ? ": " + last.failure.message.substr(kReasonPrefix.size())
                                : "; check that the server is reachable and not overloaded, or "
                                  "raise connect_timeout")};
    }
    if (attempted) {
        return {CONNPOOL_ERR_CONNECT_FAILED, "could not connect: " + last.failure.message,
                last.failure.sqlstate};
    }
    return acquire_error;
}

}  // namespace

Error open_direct_connection(const char *conninfo, const PoolSettings &settings, Slot *&out) {
    ParsedConninfo parsed;
    Error error = parse_conninfo(conninfo, parsed);
    if (!error.ok()) return error;
    PoolSettings direct = settings;
    direct.pool = direct_pool_options(settings.pool);
    error = direct.validate();
    if (!error.ok()) return error;
    auto owned = std::make_unique<PgConnector>(
        PgSettings{conninfo,
                   parsed.password,
                   {},  // no reset query: the connection is closed on release, never reused
                   {direct.pg.statement_cache_size, direct.pg.prepare_threshold},
                   direct.pg.init_sql,
                   ResetMode::rollback,  // closed on release: nothing to reset
                   direct.pg.cancel_timeout_ms});
    const PgConnector &connector = *owned;
    std::shared_ptr<Pool> pool = Pool::create(direct.pool, std::move(owned));
    pool->log().debug("direct connection to {}", parsed.redacted);
    const int64_t timeout_ms = direct.pool.connect_timeout_ms;
    Slot *slot = nullptr;
    Error acquire_error;
    const connpool_status status = pool->acquire(timeout_ms, slot, &acquire_error);
    if (status != CONNPOOL_OK) {
        error = connect_error(connector, status, std::move(acquire_error), timeout_ms);
        pool.reset();  // closes the private pool and frees it (no lease holds it)
        return error;
    }
    // Letting go of the last reference closes the private pool (its threads end now) and
    // leaves the pool's memory to the lease: releasing it closes the connection (a closed pool
    // reuses nothing) and frees the pool.
    pool.reset();
    out = slot;
    return {};
}

}  // namespace connpool
