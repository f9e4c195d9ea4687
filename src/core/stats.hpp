// A pool's statistics: the one list of them. Everything that shows statistics (the C struct
// connpool_stats, the JSON rendering, the field introspection of the C API, the bindings
// through it) is derived from CONNPOOL_STAT_FIELDS, in this order, which is the order of
// connpool_stats. Adding a statistic: append one X(...) line here, append the field to
// connpool_stats in the public header (the C API checks the two agree at compile time), fill
// it in Pool::stats(), and test it.
#pragma once

#include <cstdint>
#include <iterator>

namespace connpool {

// gauge: a value now (may go down); counter: a total since the pool was created (only rises).
enum class StatKind : int32_t { gauge = 1, counter = 2 };

// X(name, kind, one-line description)
#define CONNPOOL_STAT_FIELDS(X)                                                                   \
    X(total, gauge, "open connections (idle + in use)")                                           \
    X(idle, gauge, "open connections ready to be handed out")                                     \
    X(in_use, gauge, "open connections leased, or being checked/reset by the pool")               \
    X(opening, gauge, "connection attempts in progress")                                          \
    X(waiting, gauge, "threads blocked in acquire + pending asynchronous acquires")               \
    X(max_size, gauge, "max_size in force (the option, or the last resize)")                      \
    X(min_size, gauge, "min_size in force (the option, or the last resize)")                      \
    X(max_overflow, gauge, "the max_overflow option")                                             \
    X(created, counter, "connections opened successfully")                                        \
    X(closed, counter, "connections closed, for any reason")                                      \
    X(acquired, counter, "successful acquires")                                                   \
    X(released, counter, "releases")                                                              \
    X(reused, counter, "acquires served by a connection that had been used before")               \
    X(acquire_timeouts, counter,                                                                  \
      "acquires ended by their timeout (CONNPOOL_ERR_TIMEOUT or CONNPOOL_ERR_CONNECT_FAILED)")    \
    X(connect_errors, counter, "failed connection attempts")                                      \
    X(health_checks, counter, "liveness checks (pre-ping) run on idle connections")               \
    X(health_check_failures, counter, "liveness checks that found the connection dead")           \
    X(closed_lifetime, counter, "connections closed because they outlived max_lifetime")          \
    X(closed_idle, counter, "connections closed because they were idle longer than max_idle")     \
    X(closed_broken, counter,                                                                     \
      "connections closed because they were broken or in an unknown "                             \
      "state")                                                                                    \
    X(closed_overflow, counter, "overflow connections closed on release")                         \
    X(resets, counter, "connections rolled back / reset after release")                           \
    X(acquire_wait_us_total, counter,                                                             \
      "time spent in successful acquires, microseconds (each measured in nanoseconds, added "     \
      "when its lease is released)")                                                              \
    X(acquire_wait_us_max, gauge, "longest successful acquire, microseconds")                     \
    X(breaker_state, gauge, "circuit breaker: 0 closed, 1 open (failing fast), 2 half-open")      \
    X(breaker_opens, counter, "times the circuit breaker opened")                                 \
    X(waiters_rejected, counter, "acquires refused with CONNPOOL_ERR_TOO_MANY_WAITERS")           \
    X(unavailable, counter, "acquires refused with CONNPOOL_ERR_DATABASE_UNAVAILABLE")            \
    X(leaks_detected, counter, "leases held longer than leak_threshold (each reported once)")     \
    X(canceled, counter, "asynchronous acquires cancelled while pending")                         \
    X(sweeps, counter, "idle sweeps after a dead connection was found")                           \
    X(requests_queued, counter, "acquires that had to wait for a connection (queued)")            \
    X(usage_ms, counter, "time connections spent leased, milliseconds (psycopg_pool's usage_ms)") \
    X(acquire_wait_p50_ns, gauge, "median acquire wait, nanoseconds (histogram, within 12.5 %)")  \
    X(acquire_wait_p90_ns, gauge, "90th percentile of acquire waits, nanoseconds")                \
    X(acquire_wait_p99_ns, gauge, "99th percentile of acquire waits, nanoseconds")                \
    X(acquire_wait_p999_ns, gauge, "99.9th percentile of acquire waits, nanoseconds")             \
    X(lease_hold_p50_ns, gauge, "median time a lease was held, nanoseconds (histogram)")          \
    X(lease_hold_p90_ns, gauge, "90th percentile of lease hold times, nanoseconds")               \
    X(lease_hold_p99_ns, gauge, "99th percentile of lease hold times, nanoseconds")               \
    X(lease_hold_p999_ns, gauge, "99.9th percentile of lease hold times, nanoseconds")            \
    X(utilisation_percent, gauge, "in_use over max_size + max_overflow, percent (rounded down)")  \
    X(health, gauge, "health verdict: 0 healthy, 1 degraded, 2 unhealthy")                        \
    X(recent_errors, gauge,                                                                       \
      "failed connects, acquire timeouts and broken connections in the last "                     \
      "health_error_window")                                                                      \
    X(paused, gauge, "1 while the pool is paused, else 0")                                        \
    X(drains, counter, "drain calls")                                                             \
    X(closed_drained, counter, "connections closed because of a drain")                           \
    X(keepalive_checks, counter, "idle connections checked by keepalive_interval or a check")     \
    X(keepalive_failures, counter, "of those, connections found dead and closed")                 \
    X(resizes, counter, "resize calls that changed a size")                                       \
    X(reset_failures, counter, "returned connections closed because their session reset failed")  \
    X(dead_replaced, counter,                                                                     \
      "leases moved to another connection: theirs was found closed by the server before their "   \
      "first statement")                                                                          \
    X(alloc_failures, counter, "allocation failures in the pool's own threads (retried)")         \
    X(cancel_timeouts, counter, "cancel requests given up at cancel_timeout")

// A snapshot of one pool; the gauges are mutually consistent (idle + in_use == total).
struct PoolStats {
#define CONNPOOL_STAT_MEMBER(name, kind, doc) int64_t name = 0;
    CONNPOOL_STAT_FIELDS(CONNPOOL_STAT_MEMBER)
#undef CONNPOOL_STAT_MEMBER
};

struct StatField {
    const char *name;
    StatKind kind;
    const char *doc;
    int64_t PoolStats::*member;
};

inline constexpr StatField kStatFields[] = {
#define CONNPOOL_STAT_ENTRY(name, kind, doc) {#name, StatKind::kind, doc, &PoolStats::name},
    CONNPOOL_STAT_FIELDS(CONNPOOL_STAT_ENTRY)
#undef CONNPOOL_STAT_ENTRY
};
inline constexpr int32_t kStatFieldCount = static_cast<int32_t>(std::size(kStatFields));

}  // namespace connpool
