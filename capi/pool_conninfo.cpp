// connpool_pool_set_conninfo: credential rotation (a running pool's new connects use a new
// conninfo; open connections retire by max_lifetime or connpool_pool_drain).
#include <cstring>

#include "handles.hpp"
#include "pg/pool_factory.hpp"
#include "registry.hpp"

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
        const PoolObject &object = *ref.get<PoolObject>();
        if (object.pool->forked()) return forked(err, kFunction);
        Error error = set_pg_pool_conninfo(*object.pool, conninfo);
        if (error.ok()) {
            // A registered pool is now found by its new conninfo.
            if (!object.registry_name.empty()) {
                registered_conninfo_changed(object.registry_name, *object.pool, conninfo);
            }
            return CONNPOOL_OK;
        }
        error.message = std::string(kFunction) + ": " + error.message;
        return fail(err, error);
    });
}

}  // extern "C"
