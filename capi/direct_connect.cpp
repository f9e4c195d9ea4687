// connpool_connect: one connection outside any pool, as an ordinary lease (see
// pg/direct_connection.hpp); connpool_lease_release closes it.
#include "handles.hpp"
#include "pg/direct_connection.hpp"

using namespace connpool;
using namespace connpool::capi;

extern "C" {

CONNPOOL_API connpool_status connpool_connect(connpool_lease **out, const char *conninfo,
                                              const connpool_options *options,
                                              connpool_error **err) {
    static const char *const kFunction = "connpool_connect";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    *out = nullptr;
    if (conninfo == nullptr) return null_argument(err, kFunction, "conninfo");
    return guarded(err, [&] {
        PoolSettings settings;
        if (options != nullptr) {
            auto ref = HandleRegistry::instance().lookup(token_of(options), HandleKind::options);
            if (!ref) return stale_handle(err, kFunction, "options");
            settings = ref.get<OptionsObject>()->settings;
        }
        install_lease_cells();
        Slot *slot = nullptr;
        Error error = open_direct_connection(conninfo, settings, slot);
        if (!error.ok()) {
            error.message = std::string(kFunction) + ": " + error.message;
            return fail(err, error);
        }
        *out = lease_handle(slot);
        return CONNPOOL_OK;
    });
}

}  // extern "C"
