#include "pg/pool_group_factory.hpp"

#include <cstdlib>
#include <string>
#include <vector>

#include "pg/conninfo_hosts.hpp"
#include "pg/lease.hpp"
#include "pg/pool_factory.hpp"
#include "pg/query.hpp"

namespace connpool {
namespace {

// A standby that has replayed all the WAL it received is not lagging, however old its last
// replayed transaction is (an idle primary commits nothing): only WAL received but not yet
// replayed makes the age of the last replayed commit count as lag. A standby that has not
// replayed any commit since it started counts from its start (it is behind at least that long).
constexpr const char *kProbeSql =
    "SELECT pg_is_in_recovery(), CASE WHEN NOT pg_is_in_recovery() "
    "OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "
    "ELSE (EXTRACT(EPOCH FROM now() - COALESCE(pg_last_xact_replay_timestamp(), "
    "pg_postmaster_start_time())) * 1000)::bigint END";

ProbeOutcome probe_node(Pool &pool, int64_t timeout_ms) {
    ProbeOutcome outcome;
    Slot *slot = nullptr;
    if (pool.acquire(timeout_ms, slot, &outcome.error) != CONNPOOL_OK) return outcome;
    PgConnection *pg = as_pg(slot->connection.get());
    std::unique_ptr<QueryResult> result;
    const connpool_status status =
        pg == nullptr ? CONNPOOL_ERR_INTERNAL
                      : run_query(*pg, kProbeSql, 0, nullptr, result, outcome.error);
    if (status == CONNPOOL_OK && result && result->rows() == 1 && result->columns() == 2) {
        outcome.role =
            std::string(result->value(0, 0)) == "t" ? NodeRole::standby : NodeRole::primary;
        outcome.lag_ms = std::strtoll(result->value(0, 1), nullptr, 10);
        outcome.error = {};
    } else if (outcome.error.ok()) {
        outcome.error = Error(CONNPOOL_ERR_INTERNAL, "the role check returned no row");
    }
    pool.release(slot);
    return outcome;
}

}  // namespace

Error create_pg_group(const char *conninfo, const PoolSettings &settings,
                      std::shared_ptr<PoolGroup> &out) {
    std::vector<NodeConninfo> hosts;
    Error error = split_conninfo_hosts(conninfo, hosts);
    if (!error.ok()) return error;
    if (hosts.size() > PoolGroup::kMaxNodes) {
        return {CONNPOOL_ERR_INVALID_ARGUMENT,
                "conninfo lists " + std::to_string(hosts.size()) + " hosts; a pool group takes " +
                    std::to_string(PoolGroup::kMaxNodes) + " at most"};
    }
    error = settings.validate();
    if (!error.ok()) return error;
    std::vector<GroupNodeSpec> nodes;
    for (const NodeConninfo &host : hosts) {
        PoolSettings node_settings = settings;
        node_settings.pool.name = settings.pool.name + "@" + host.host + ":" + host.port;
        std::shared_ptr<Pool> pool;
        error = create_pg_pool(host.conninfo.c_str(), node_settings, pool);
        if (!error.ok()) return error;  // pools made so far close as they go
        nodes.push_back({host.host, host.port, std::move(pool)});
    }
    GroupOptions options{settings.pool.name, settings.pool.acquire_timeout_ms,
                         settings.pg.replica_check_interval_ms, settings.pg.replica_max_lag_ms};
    out = std::make_shared<PoolGroup>(std::move(options), std::move(nodes), probe_node);
    return {};
}

}  // namespace connpool
