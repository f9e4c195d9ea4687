// connpool_monitor_handle, the router every language's monitoring endpoint goes through:
// every route, every refusal, through the C API. The pools here are registered without a
// server (min_size 0 opens nothing), so no database is needed.
#include <gtest/gtest.h>

#include <string>

#include "connpool/connpool.h"
#include "monitor_json.hpp"
#include "test_support.hpp"

namespace connpool::testing {
namespace {

constexpr const char *kToken = "s3cret-token";
constexpr const char *kNowhere = "host=/nonexistent/connpool-monitor-test dbname=none";

struct Reply {
    int32_t status = 0;
    std::string content_type;
    std::string body;
};

Reply call(const char *method, const std::string &target, const char *authorization = nullptr,
           const char *accept = nullptr, const char *admin_token = nullptr) {
    Reply reply;
    char *content_type = nullptr;
    char *body = nullptr;
    ErrorBox error;
    EXPECT_EQ(connpool_monitor_handle(&reply.status, &content_type, &body, method, target.c_str(),
                                      authorization, accept, admin_token, error.out()),
              CONNPOOL_OK)
        << error.message();
    if (content_type != nullptr) reply.content_type = content_type;
    if (body != nullptr) reply.body = body;
    connpool_string_free(content_type);
    connpool_string_free(body);
    return reply;
}

// A refusal: the status, a JSON content type, and a JSON body {"error": "<non-empty>"}.
void expect_refusal(const Reply &reply, int32_t status, const std::string &context) {
    SCOPED_TRACE(context);
    EXPECT_EQ(reply.status, status) << reply.body;
    EXPECT_EQ(reply.content_type, "application/json");
    std::string why;
    const auto json = parse_json(reply.body, &why);
    ASSERT_TRUE(json) << why << ": " << reply.body;
    EXPECT_FALSE(json->get<std::string>("error", "").empty()) << reply.body;
}

// Registers a pool that never connects (min_size 0) and frees the handle: it stays registered.
void register_pool(const char *name) {
    connpool_options *options = make_options({{"min_size", "0"}, {"max_size", "3"}});
    connpool_pool *pool = nullptr;
    ErrorBox error;
    ASSERT_EQ(connpool_registry_get_or_create(&pool, name, kNowhere, options, error.out()),
              CONNPOOL_OK)
        << error.message();
    connpool_options_free(options);
    connpool_pool_free(pool);
}

class MonitorRoutes : public ::testing::Test {
  protected:
    void SetUp() override { connpool_registry_close_all(nullptr); }
    void TearDown() override { connpool_registry_close_all(nullptr); }
};

// ---- refusals (no registry content needed) ------------------------------------------------------

TEST(MonitorRefusals, UnknownPathsAre404) {
    for (const char *target : {"/", "/nope", "/pools/a/b", "/pools/a/close/x", "/health/x",
                               "/metricsx", "/Pools", "//pools", "/pools/a/open"}) {
        expect_refusal(call("GET", target), 404, target);
        expect_refusal(call("POST", target, "Bearer x", nullptr, kToken), 404, target);
    }
}

TEST(MonitorRefusals, OtherMethodsOnKnownPathsAre405) {
    for (const char *method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "Get"}) {
        for (const char *target : {"/pools", "/health", "/metrics", "/pools/main"}) {
            expect_refusal(call(method, target), 405, std::string(method) + " " + target);
        }
    }
    for (const char *method : {"GET", "PUT", "post"}) {
        expect_refusal(call(method, "/pools/main/close", nullptr, nullptr, kToken), 405, method);
    }
    const Reply head = call("HEAD", "/pools/close-all/close", nullptr, nullptr, kToken);
    EXPECT_EQ(head.status, 405);
    EXPECT_TRUE(head.body.empty()) << "HEAD replies have no body";
    // POST /pools/close-all is mutating; any other method reads the pool called "close-all".
    expect_refusal(call("PUT", "/pools/close-all", nullptr, nullptr, kToken), 405, "PUT");
}

TEST(MonitorRefusals, MutatingRoutesWithoutAConfiguredTokenAre403) {
    for (const char *target : {"/pools/main/close", "/pools/close-all"}) {
        expect_refusal(call("POST", target), 403, target);
        expect_refusal(call("POST", target, "Bearer ", nullptr, ""), 403, target);
        // Whatever the client presents: without a configured token the routes are off.
        expect_refusal(call("POST", target, "Bearer anything", nullptr, nullptr), 403, target);
    }
}

TEST(MonitorRefusals, MissingOrWrongBearerTokensAre401) {
    const std::string token(kToken);
    for (const char *target : {"/pools/main/close", "/pools/close-all"}) {
        for (const std::string &authorization :
             {std::string(), std::string("Bearer"), std::string("Bearer "),
              std::string("Bearer wrong"), "Basic " + token, "Bearer " + token + "x",
              "Bearer " + token.substr(0, token.size() - 1), "Bearer" + token,
              "Bearer X" + token.substr(1), "Token " + token}) {
            const Reply reply =
                call("POST", target, authorization.empty() ? nullptr : authorization.c_str(),
                     nullptr, kToken);
            expect_refusal(reply, 401, std::string(target) + " with '" + authorization + "'");
            EXPECT_EQ(reply.body.find(kToken), std::string::npos) << "the token leaked";
        }
    }
}

TEST(MonitorRefusals, InvalidPoolNamesAre400) {
    const std::string too_long = "/pools/" + std::string(64, 'a');
    for (const std::string &target :
         {std::string("/pools/a%2Fb"), std::string("/pools/a%20b"), std::string("/pools/%00"),
          std::string("/pools/caf%C3%A9"), std::string("/pools/"), too_long,
          std::string("/pools/a b"), std::string("/pools/a%2Fb/close")}) {
        const char *method = target.ends_with("/close") ? "POST" : "GET";
        expect_refusal(call(method, target, "Bearer s3cret-token", nullptr, kToken), 400, target);
    }
}

TEST(MonitorRefusals, MalformedTargetsAre400) {
    for (const char *target : {"", "pools", "*", "http://host/pools", "/pools/%zz", "/pools/%4",
                               "/pools/%", "/health%"}) {
        expect_refusal(call("GET", target), 400, target);
    }
}

TEST(MonitorRefusals, OverlyLongTargetsAre414) {
    const std::string long_target = "/pools/" + std::string(3000, 'a');
    expect_refusal(call("GET", long_target), 414, "3007 bytes");
    expect_refusal(call("GET", "/health?" + std::string(2100, 'q')), 414, "long query string");
}

TEST(MonitorRefusals, NullArgumentsAreRefusedAndCounted) {
    int32_t status = 0;
    char *type = nullptr;
    char *body = nullptr;
    const int64_t misuse_before = connpool_misuse_count();
    ErrorBox error;
    EXPECT_EQ(connpool_monitor_handle(nullptr, &type, &body, "GET", "/", nullptr, nullptr, nullptr,
                                      error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("out_http_status"), std::string::npos) << error.message();
    EXPECT_EQ(connpool_monitor_handle(&status, nullptr, &body, "GET", "/", nullptr, nullptr,
                                      nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_monitor_handle(&status, &type, nullptr, "GET", "/", nullptr, nullptr,
                                      nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_monitor_handle(&status, &type, &body, nullptr, "/", nullptr, nullptr,
                                      nullptr, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("method"), std::string::npos) << error.message();
    EXPECT_EQ(connpool_monitor_handle(&status, &type, &body, "GET", nullptr, nullptr, nullptr,
                                      nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(type, nullptr);
    EXPECT_EQ(body, nullptr);
    EXPECT_EQ(connpool_misuse_count() - misuse_before, 5);
}

// ---- routes with content
// --------------------------------------------------------------------------

TEST_F(MonitorRoutes, PoolsListsEveryRegisteredPoolAndTheAggregate) {
    register_pool("alpha");
    register_pool("beta");
    const Reply reply = call("GET", "/pools");
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.content_type, "application/json");
    const auto json = parse_json(reply.body);
    ASSERT_TRUE(json) << reply.body;
    EXPECT_TRUE(json->get_child_optional("pools.alpha")) << reply.body;
    EXPECT_TRUE(json->get_child_optional("pools.beta")) << reply.body;
    EXPECT_EQ(json->get<int>("aggregate.pools"), 2) << reply.body;
}

TEST_F(MonitorRoutes, OnePoolHasItsStatisticsAndHealth) {
    register_pool("alpha");
    const Reply reply = call("GET", "/pools/alpha?verbose=1");
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.content_type, "application/json");
    const auto json = parse_json(reply.body);
    ASSERT_TRUE(json) << reply.body;
    EXPECT_EQ(json->get<std::string>("name"), "alpha");
    EXPECT_EQ(json->get<int>("stats.max_size", -1), 3) << reply.body;
    EXPECT_EQ(json->get<std::string>("health.status", ""), "healthy") << reply.body;
    // The name is percent-decoded: %61 is "a".
    EXPECT_EQ(call("GET", "/pools/%61lpha").status, 200);
    expect_refusal(call("GET", "/pools/gamma"), 404, "unknown pool");
}

TEST_F(MonitorRoutes, HealthIs200WhenHealthyWithTheVerdictAsJson) {
    register_pool("alpha");
    const Reply reply = call("GET", "/health");
    ASSERT_EQ(reply.status, 200) << reply.body;
    const auto json = parse_json(reply.body);
    ASSERT_TRUE(json) << reply.body;
    EXPECT_EQ(json->get<std::string>("status", ""), "healthy") << reply.body;
    EXPECT_EQ(json->get<int>("total_pools", -1), 1) << reply.body;
}

TEST_F(MonitorRoutes, MetricsArePrometheusTextOrOpenMetricsWhenAccepted) {
    register_pool("alpha");
    const Reply text = call("GET", "/metrics");
    ASSERT_EQ(text.status, 200) << text.body;
    EXPECT_EQ(text.content_type, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(text.body.find("pool_name=\"alpha\""), std::string::npos) << text.body;
    EXPECT_EQ(text.body.find("# EOF"), std::string::npos);

    const Reply open = call("GET", "/metrics", nullptr,
                            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
    ASSERT_EQ(open.status, 200) << open.body;
    EXPECT_EQ(open.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    EXPECT_TRUE(open.body.ends_with("# EOF\n")) << open.body;
}

TEST_F(MonitorRoutes, HeadAnswersAsGetWithoutABody) {
    register_pool("alpha");
    for (const char *target : {"/pools", "/pools/alpha", "/health", "/metrics"}) {
        const Reply get = call("GET", target);
        const Reply head = call("HEAD", target);
        EXPECT_EQ(head.status, get.status) << target;
        EXPECT_EQ(head.content_type, get.content_type) << target;
        EXPECT_TRUE(head.body.empty()) << target;
    }
    const Reply missing = call("HEAD", "/nope");
    EXPECT_EQ(missing.status, 404);
    EXPECT_TRUE(missing.body.empty());
}

TEST_F(MonitorRoutes, CloseRouteClosesOnePoolWithTheToken) {
    register_pool("alpha");
    register_pool("beta");
    const std::string bearer = std::string("bearer  ") + kToken;  // scheme case-insensitive
    const Reply reply = call("POST", "/pools/alpha/close", bearer.c_str(), nullptr, kToken);
    ASSERT_EQ(reply.status, 200) << reply.body;
    ASSERT_TRUE(parse_json(reply.body)) << reply.body;
    expect_refusal(call("GET", "/pools/alpha"), 404, "closed pool");
    EXPECT_EQ(call("GET", "/pools/beta").status, 200);
    expect_refusal(call("POST", "/pools/alpha/close", bearer.c_str(), nullptr, kToken), 404,
                   "closing it again");
}

TEST_F(MonitorRoutes, CloseAllClosesEveryPoolWithTheToken) {
    register_pool("alpha");
    register_pool("beta");
    const std::string bearer = std::string("Bearer ") + kToken;
    const Reply reply = call("POST", "/pools/close-all", bearer.c_str(), nullptr, kToken);
    ASSERT_EQ(reply.status, 200) << reply.body;
    ASSERT_TRUE(parse_json(reply.body)) << reply.body;
    const auto json = parse_json(call("GET", "/pools").body);
    ASSERT_TRUE(json);
    EXPECT_EQ(json->get<int>("aggregate.pools", -1), 0);
}

TEST_F(MonitorRoutes, APoolNamedCloseAllIsReadByGet) {
    register_pool("close-all");
    const Reply reply = call("GET", "/pools/close-all");
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(parse_json(reply.body)->get<std::string>("name"), "close-all");
}

}  // namespace
}  // namespace connpool::testing
