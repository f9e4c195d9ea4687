// connpool_pool_set_conninfo: credential rotation (a running pool's new connects use a new
// conninfo; open connections retire by max_lifetime or connpool_pool_drain).
#include <cstring>

#include "handles.hpp"
#include "pg/pool_factory.hpp"

using namespace connpool;
using namespace connpool::capi;

extern "C" {

CONNPOOL_API connpool_status connpool_pool_set_conninfo(connpool_pool *pool, const char *conninfo,
                                                        connpool_error **err) {
    static const char *const kFunction = "connpool_pool_set_conninfo";
    if (pool == nullptr) return null_argument(err, kFunction, "pool");
    if (conninfo == nullptr) return null_argument(err, kFunction, "conninfo");
    return guarded(err, [&] {
        auto ref = HandleRegistry::instance().lookup(token_of(pool), HandleKind::pool);
        if (!ref) return stale_handle(err, kFunction, "pool");
        Pool &core = *ref.get<PoolObject>()->pool;
        if (core.forked()) return forked(err, kFunction);
        Error error = set_pg_pool_conninfo(core, conninfo);
        if (error.ok()) return CONNPOOL_OK;
        error.message = std::string(kFunction) + ": " + error.message;
        return fail(err, error);
    });
}

}  // extern "C"
