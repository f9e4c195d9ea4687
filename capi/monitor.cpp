// connpool_monitor_handle: the one router of the monitoring endpoints. The embedded exporter,
// the Python WSGI/ASGI apps and the Go http.Handler all pass their requests through it, so
// every language answers the same routes with the same statuses and refusals.
//
// It is built only on the public registry, health and metrics functions: it never touches a
// pool's internals, so it cannot hold a pool lock while it renders a reply.
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/stats_json.hpp"
#include "handles.hpp"
#include "monitor_request.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

constexpr const char *kJson = "application/json";
constexpr const char *kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char *kOpenMetricsText =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

struct Request {
    std::string_view method;
    std::string_view target;
    std::string_view authorization;
    std::string_view accept;
    std::string_view admin_token;
};

struct Reply {
    int32_t status = 200;
    std::string content_type = kJson;
    std::string body;
};

// Owners of what the public functions hand out, so that every path frees them.
struct ErrorOwner {
    connpool_error *error = nullptr;
    ErrorOwner() = default;
    ErrorOwner(const ErrorOwner &) = delete;
    ErrorOwner &operator=(const ErrorOwner &) = delete;
    ~ErrorOwner() { connpool_error_free(error); }
    std::string message() const { return error != nullptr ? connpool_error_message(error) : ""; }
};
struct StringOwner {
    char *text = nullptr;
    StringOwner() = default;
    StringOwner(const StringOwner &) = delete;
    StringOwner &operator=(const StringOwner &) = delete;
    ~StringOwner() { connpool_string_free(text); }
};
struct PoolOwner {
    connpool_pool *pool = nullptr;
    PoolOwner() = default;
    PoolOwner(const PoolOwner &) = delete;
    PoolOwner &operator=(const PoolOwner &) = delete;
    ~PoolOwner() { connpool_pool_free(pool); }
};

Reply error_reply(int32_t status, std::string_view message) {
    return Reply{status, kJson, "{\"error\": \"" + json_escape(message) + "\"}"};
}

// A library call behind a route failed: the server's fault, not the client's.
Reply failure_reply(const char *function, connpool_status status, const ErrorOwner &error) {
    std::string message = std::string(function) + " failed (" + connpool_status_name(status) + ")";
    if (const std::string detail = error.message(); !detail.empty()) message += ": " + detail;
    return error_reply(500, message);
}

Reply no_such_pool(std::string_view name) {
    return error_reply(404, "no pool named \"" + std::string(name) + "\" is registered");
}

Reply get_pools() {
    ErrorOwner error;
    StringOwner json;
    const connpool_status status = connpool_registry_stats_json(&json.text, &error.error);
    if (status != CONNPOOL_OK) return failure_reply("connpool_registry_stats_json", status, error);
    return Reply{200, kJson, json.text};
}

Reply get_pool(const std::string &name) {
    ErrorOwner error;
    PoolOwner handle;
    connpool_status status = connpool_registry_lookup(&handle.pool, name.c_str(), &error.error);
    if (status == CONNPOOL_ERR_NOT_FOUND) return no_such_pool(name);
    if (status != CONNPOOL_OK) return failure_reply("connpool_registry_lookup", status, error);
    StringOwner stats;
    status = connpool_pool_stats_json(&stats.text, handle.pool, &error.error);
    // Closed between the lookup and now: for a client, it is no longer there.
    if (status == CONNPOOL_ERR_POOL_CLOSED) return no_such_pool(name);
    if (status != CONNPOOL_OK) return failure_reply("connpool_pool_stats_json", status, error);
    StringOwner health;
    status = connpool_pool_health_json(&health.text, handle.pool, &error.error);
    if (status != CONNPOOL_OK) return failure_reply("connpool_pool_health_json", status, error);
    return Reply{200, kJson,
                 "{\"name\": \"" + json_escape(name) + "\", \"stats\": " + stats.text +
                     ", \"health\": " + health.text + "}"};
}

Reply get_health() {
    ErrorOwner error;
    StringOwner json;
    int32_t verdict = CONNPOOL_HEALTH_UNHEALTHY;
    const connpool_status status =
        connpool_registry_health_json(&json.text, &verdict, &error.error);
    if (status != CONNPOOL_OK) return failure_reply("connpool_registry_health_json", status, error);
    // Degraded still serves: only an unhealthy registry should be taken out of rotation.
    return Reply{verdict == CONNPOOL_HEALTH_UNHEALTHY ? 503 : 200, kJson, json.text};
}

Reply get_metrics(std::string_view accept) {
    const bool openmetrics = accept.find("application/openmetrics-text") != std::string_view::npos;
    ErrorOwner error;
    StringOwner text;
    const connpool_status status = connpool_registry_metrics(
        &text.text, openmetrics ? CONNPOOL_METRICS_OPENMETRICS : CONNPOOL_METRICS_PROMETHEUS,
        &error.error);
    if (status != CONNPOOL_OK) return failure_reply("connpool_registry_metrics", status, error);
    return Reply{200, openmetrics ? kOpenMetricsText : kPrometheusText, text.text};
}

Reply close_pool(const std::string &name) {
    ErrorOwner error;
    const connpool_status status = connpool_registry_close(name.c_str(), &error.error);
    if (status == CONNPOOL_ERR_NOT_FOUND) return no_such_pool(name);
    if (status != CONNPOOL_OK) return failure_reply("connpool_registry_close", status, error);
    return Reply{200, kJson, "{\"closed\": [\"" + json_escape(name) + "\"]}"};
}

Reply close_all() {
    ErrorOwner error;
    const connpool_status status = connpool_registry_close_all(&error.error);
    if (status != CONNPOOL_OK) return failure_reply("connpool_registry_close_all", status, error);
    return Reply{200, kJson, "{\"closed_all\": true}"};
}

// A route about one pool: the name must follow the registry's rule before anything is asked.
template <class Action>
Reply with_pool_name(const std::string &name, Action &&action) {
    if (!valid_pool_name(name)) {
        return error_reply(400,
                           "invalid pool name: names are 1 to 63 characters from "
                           "[A-Za-z0-9_.-]");
    }
    return action(name);
}

template <class Action>
Reply read_only(const Request &request, Action &&action) {
    if (request.method != "GET" && request.method != "HEAD") {
        return error_reply(405, "method not allowed here; allowed: GET, HEAD");
    }
    return action();
}

template <class Action>
Reply mutating(const Request &request, Action &&action) {
    if (request.method != "POST") return error_reply(405, "method not allowed here; allowed: POST");
    if (request.admin_token.empty()) {
        return error_reply(403, "the mutating routes are off: no admin token is configured");
    }
    const std::optional<std::string_view> presented = bearer_token(request.authorization);
    if (!presented || !tokens_match(*presented, request.admin_token)) {
        return error_reply(401,
                           "this route needs the header \"Authorization: Bearer <admin token>\"");
    }
    return action();
}

Reply dispatch(const Request &request, const std::vector<std::string> &path) {
    const bool under_pools = !path.empty() && path[0] == "pools";
    if (path.size() == 1 && under_pools) return read_only(request, get_pools);
    if (path.size() == 1 && path[0] == "health") return read_only(request, get_health);
    if (path.size() == 1 && path[0] == "metrics") {
        return read_only(request, [&] { return get_metrics(request.accept); });
    }
    // "close-all" is also a valid pool name: POST closes everything, GET reads that pool.
    if (path.size() == 2 && under_pools && path[1] == "close-all" && request.method == "POST") {
        return mutating(request, close_all);
    }
    if (path.size() == 2 && under_pools) {
        return read_only(request, [&] { return with_pool_name(path[1], get_pool); });
    }
    if (path.size() == 3 && under_pools && path[2] == "close") {
        return mutating(request, [&] { return with_pool_name(path[1], close_pool); });
    }
    return error_reply(404,
                       "no such route; the routes are GET /pools, GET /pools/{name}, "
                       "GET /health, GET /metrics, POST /pools/{name}/close, "
                       "POST /pools/close-all");
}

Reply route(const Request &request) {
    if (request.target.size() > kMaxMonitorTarget) {
        return error_reply(
            414, "request target longer than " + std::to_string(kMaxMonitorTarget) + " bytes");
    }
    const auto path = target_segments(request.target);
    if (!path) {
        return error_reply(400,
                           "malformed request target: expected a path such as /pools, "
                           "with valid percent escapes");
    }
    Reply reply = dispatch(request, *path);
    // HEAD: the GET's status and type, no body, so every server wrapping this sends none.
    if (request.method == "HEAD") reply.body.clear();
    return reply;
}

char *new_c_string(const std::string &text) {
    char *copy = new char[text.size() + 1];
    std::memcpy(copy, text.c_str(), text.size() + 1);
    return copy;
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_monitor_handle(int32_t *out_http_status,
                                                     char **out_content_type, char **out_body,
                                                     const char *method, const char *target,
                                                     const char *authorization, const char *accept,
                                                     const char *admin_token,
                                                     connpool_error **err) {
    static const char *const kFunction = "connpool_monitor_handle";
    if (out_http_status == nullptr) return null_argument(err, kFunction, "out_http_status");
    if (out_content_type == nullptr) return null_argument(err, kFunction, "out_content_type");
    if (out_body == nullptr) return null_argument(err, kFunction, "out_body");
    *out_http_status = 0;
    *out_content_type = nullptr;
    *out_body = nullptr;
    if (method == nullptr) return null_argument(err, kFunction, "method");
    if (target == nullptr) return null_argument(err, kFunction, "target");
    return guarded(err, [&] {
        const Request request{method, target, authorization != nullptr ? authorization : "",
                              accept != nullptr ? accept : "",
                              admin_token != nullptr ? admin_token : ""};
        const Reply reply = route(request);
        std::unique_ptr<char[]> content_type(new_c_string(reply.content_type));
        char *body = new_c_string(reply.body);
        *out_content_type = content_type.release();
        *out_body = body;
        *out_http_status = reply.status;
        return CONNPOOL_OK;
    });
}

}  // extern "C"
