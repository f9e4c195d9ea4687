// connpool_options_*: the key/value option set, and connpool_option_*: its description.
#include <cstring>

#include "handles.hpp"

using namespace connpool;
using namespace connpool::capi;

static_assert(static_cast<int32_t>(OptionKind::integer) == CONNPOOL_OPTION_INTEGER &&
              static_cast<int32_t>(OptionKind::duration_ms) == CONNPOOL_OPTION_DURATION_MS &&
              static_cast<int32_t>(OptionKind::boolean) == CONNPOOL_OPTION_BOOLEAN &&
              static_cast<int32_t>(OptionKind::string) == CONNPOOL_OPTION_STRING &&
              static_cast<int32_t>(OptionKind::choice) == CONNPOOL_OPTION_CHOICE);

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
        const Error result = ref.get<OptionsObject>()->settings.set(key, value);
        return result.ok() ? CONNPOOL_OK : fail(err, result);
    });
}

CONNPOOL_API connpool_status connpool_options_free(connpool_options *options) {
    if (options == nullptr) return CONNPOOL_OK;
    auto object = retire<OptionsObject>(HandleKind::options, options);
    return object ? CONNPOOL_OK : misuse(CONNPOOL_ERR_INVALID_HANDLE);
}

CONNPOOL_API int32_t connpool_option_count(void) {
    try {
        return static_cast<int32_t>(option_catalog().size());
    } catch (...) {
        return 0;  // out of memory building the catalog once
    }
}

CONNPOOL_API connpool_status connpool_option_describe(connpool_option_info *out, int32_t index,
                                                      connpool_error **err) {
    static const char *const kFunction = "connpool_option_describe";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    const uint32_t size = out->struct_size;
    if (size < offsetof(connpool_option_info, key)) {
        return struct_too_small(err, kFunction, "connpool_option_info");
    }
    return guarded(err, [&] {
        const std::vector<OptionEntry> &catalog = option_catalog();
        if (index < 0 || static_cast<size_t>(index) >= catalog.size()) {
            return index_out_of_range(err, kFunction, "connpool_option_count");
        }
        const OptionEntry &entry = catalog[static_cast<size_t>(index)];
        connpool_option_info info{};
        info.key = entry.spec.key;
        info.description = entry.spec.doc;
        info.default_value = entry.default_value.c_str();
        info.choices = entry.spec.choices;
        info.min = entry.spec.min;
        info.max = entry.spec.max;
        info.kind = static_cast<int32_t>(entry.spec.kind);
        copy_sized(out, info, size);
        return CONNPOOL_OK;
    });
}

}  // extern "C"
