// Fuzzes the monitoring router (connpool_monitor_handle) with whatever an HTTP client could
// send: the input is "method\0target\0authorization\0accept", each part optional. A registered
// pool exists (it never connects) and the admin token is configured, so the close routes are
// reachable too. Invariants: no crash, no hang, a status from the documented set, a
// Content-Type, a JSON error body on refusals, and the admin token never in a reply.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "connpool/connpool.h"

namespace {

constexpr const char *kToken = "fuzz-admin-token-q7";

void check(bool ok) {
    if (!ok) __builtin_trap();
}

void register_pool() {
    connpool_options *options = nullptr;
    connpool_options_new(&options, nullptr);
    connpool_options_set(options, "min_size", "0", nullptr);
    connpool_pool *pool = nullptr;
    // Ignored if the registry refuses: the router must answer either way.
    connpool_registry_get_or_create(&pool, "fuzzed", "host=/nonexistent dbname=x", options,
                                    nullptr);
    connpool_pool_free(pool);
    connpool_options_free(options);
}

bool documented_status(int32_t status) {
    for (const int32_t allowed : {200, 400, 401, 403, 404, 405, 414, 500, 503}) {
        if (status == allowed) return true;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const bool registered = (register_pool(), true);
    static_cast<void>(registered);
    const std::string input(reinterpret_cast<const char *>(data), size);
    std::array<std::string, 4> parts;
    size_t start = 0;
    for (size_t i = 0; i < parts.size() && start <= input.size(); ++i) {
        const size_t end = i + 1 == parts.size() ? std::string::npos : input.find('\0', start);
        parts[i] = input.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (end == std::string::npos) break;
        start = end + 1;
    }
    // The right token would close the pool the other inputs read; the refusals are the point.
    // An input carrying the token elsewhere (a pool name in the path) may see it echoed back,
    // which is not a leak: only inputs without it can check that replies never show it.
    if (input.find(kToken) != std::string::npos) return 0;
    int32_t status = 0;
    char *content_type = nullptr;
    char *body = nullptr;
    check(connpool_monitor_handle(&status, &content_type, &body, parts[0].c_str(), parts[1].c_str(),
                                  parts[2].c_str(), parts[3].c_str(), kToken,
                                  nullptr) == CONNPOOL_OK);
    check(documented_status(status));
    check(content_type != nullptr && body != nullptr && content_type[0] != '\0');
    const std::string_view reply(body);
    check(reply.find(kToken) == std::string_view::npos);
    if (status >= 400 && parts[0] != "HEAD") {
        check(reply.starts_with("{\"error\": \"") && reply.ends_with("\"}"));
    }
    connpool_string_free(content_type);
    connpool_string_free(body);
    return 0;
}
