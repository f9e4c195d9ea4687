// connpool_options_*: the key/value option set.
#include "handles.hpp"

using namespace connpool;
using namespace connpool::capi;

extern "C" {

CONNPOOL_API connpool_status connpool_options_new(connpool_options **out, connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_options_new", "out");
    *out = nullptr;
    return guarded(err, [&] {
        *out = publish<connpool_options>(HandleKind::options, std::make_unique<OptionsObject>());
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_options_set(connpool_options *options, const char *key,
                                                  const char *value, connpool_error **err) {
    if (options == nullptr) return null_argument(err, "connpool_options_set", "options");
    if (key == nullptr) return null_argument(err, "connpool_options_set", "key");
    if (value == nullptr) return null_argument(err, "connpool_options_set", "value");
    return guarded(err, [&] {
        auto ref = HandleRegistry::instance().lookup(token_of(options), HandleKind::options);
        if (!ref) return stale_handle(err, "connpool_options_set", "options");
        const Error result = ref.get<OptionsObject>()->options.set(key, value);
        return result.ok() ? CONNPOOL_OK : fail(err, result);
    });
}

CONNPOOL_API connpool_status connpool_options_free(connpool_options *options) {
    if (options == nullptr) return CONNPOOL_OK;
    auto object = retire<OptionsObject>(HandleKind::options, options);
    return object ? CONNPOOL_OK : misuse(CONNPOOL_ERR_INVALID_HANDLE);
}

}  // extern "C"
