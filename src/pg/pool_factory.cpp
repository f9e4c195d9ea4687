#include "pg/pool_factory.hpp"

#include <spdlog/logger.h>

#include "pg/connector.hpp"
#include "pg/conninfo.hpp"
#include "pg/multiplexer.hpp"
#include "pg/pooler_watch.hpp"

namespace connpool {

Error create_pg_pool(const char *conninfo, const PoolSettings &settings, std::shared_ptr<Pool> &out,
                     std::shared_ptr<ConnectionBudget> budget) {
    ParsedConninfo parsed;
    Error error = parse_conninfo(conninfo, parsed);
    if (!error.ok()) return error;
    error = settings.validate();
    if (!error.ok()) return error;
    auto watch = std::make_shared<PoolerWatch>();
    auto connector = std::make_unique<PgConnector>(
        PgSettings{conninfo,
                   parsed.password,
                   settings.pg.reset_query,
                   {settings.pg.statement_cache_size, settings.pg.prepare_threshold, watch},
                   settings.pg.init_sql,
                   parse_reset_mode(settings.pg.reset),
                   settings.pg.cancel_timeout_ms});
    out = Pool::create(settings.pool, std::move(connector), std::move(budget));
    watch->set_log(&out->log());
    configure_multiplexing(out, settings.pg.multiplexing_connections,
                           settings.pool.acquire_timeout_ms);
    out->log().info("pool created for {}", parsed.redacted);
    return {};
}

Error set_pg_pool_conninfo(Pool &pool, const char *conninfo) {
    ParsedConninfo parsed;
    Error error = parse_conninfo(conninfo, parsed);
    if (!error.ok()) return error;
    auto *connector = dynamic_cast<PgConnector *>(&pool.connector());
    if (connector == nullptr) {
        return {CONNPOOL_ERR_INVALID_ARGUMENT, "this pool's connections are not libpq connections"};
    }
    if (pool.closed()) {
        return {CONNPOOL_ERR_POOL_CLOSED, "pool \"" + pool.name() + "\" was closed"};
    }
    connector->retarget(PgTarget{conninfo, parsed.password});
    pool.log().info("conninfo changed: new connections use {}", parsed.redacted);
    return {};
}

}  // namespace connpool
