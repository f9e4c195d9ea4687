// The embedded exporter (connpool_exporter_*) over real sockets: every route through HTTP,
// malformed and hostile clients (garbage, no request line, huge headers, a client that sends a
// byte and stops, a connection flood), concurrent clients, stop with clients connected, handle
// misuse, fork, and the stop at process exit. A registered pool over the real server keeps
// serving leases throughout: nothing a client sends holds a pool lock.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "connpool/connpool.h"
#include "http_client.hpp"
#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

using httptest::Connection;
using httptest::request;
using httptest::Response;
using namespace std::chrono_literals;

constexpr const char *kToken = "exporter-test-token";

// A time bound stretched by CONNPOOL_TEST_SLACK_SCALE (sanitizer builds are slower).
std::chrono::milliseconds scaled(std::chrono::milliseconds bound) {
    const char *scale = std::getenv("CONNPOOL_TEST_SLACK_SCALE");
    const int factor = scale != nullptr ? std::max(1, std::atoi(scale)) : 1;
    return bound * factor;
}

// The server still parses and routes requests (a route that needs no pool content).
bool answers(int port) {
    return request(port, "GET", "/no-such-route").status == 404;
}

struct Exporter {
    connpool_exporter *handle = nullptr;
    int port = 0;
    explicit Exporter(const char *token = kToken, const char *address = nullptr) {
        Error error;
        EXPECT_EQ(connpool_exporter_start(&handle, address, token, error.out()), CONNPOOL_OK)
            << error.message();
        int32_t p = 0;
        EXPECT_EQ(connpool_exporter_port(&p, handle, nullptr), CONNPOOL_OK);
        port = p;
    }
    Exporter(const Exporter &) = delete;
    Exporter &operator=(const Exporter &) = delete;
    ~Exporter() {
        if (handle != nullptr) {
            EXPECT_EQ(connpool_exporter_stop(handle), CONNPOOL_OK);
        }
    }
};

class ExporterTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_FALSE(base_conninfo().empty()) << "no server: run through ctest (fixture)";
        app_ =
            std::string("cpx_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        connpool_options *options = nullptr;
        ASSERT_EQ(connpool_options_new(&options, nullptr), CONNPOOL_OK);
        ASSERT_EQ(connpool_options_set(options, "max_size", "4", nullptr), CONNPOOL_OK);
        Error error;
        ASSERT_EQ(connpool_registry_get_or_create(&pool_, "exported", conninfo_for(app_).c_str(),
                                                  options, error.out()),
                  CONNPOOL_OK)
            << error.message();
        connpool_options_free(options);
    }
    void TearDown() override {
        connpool_pool_free(pool_);
        EXPECT_EQ(connpool_registry_close_all(nullptr), CONNPOOL_OK);
        Admin admin;
        EXPECT_EQ(admin.backends_settled(app_, 0), 0);
    }

    // A lease taken and returned promptly: the pool is not blocked by anything HTTP does.
    void expect_pool_serves() {
        connpool_lease *lease = nullptr;
        Error error;
        const auto start = Clock::now();
        ASSERT_EQ(connpool_pool_acquire(&lease, pool_, 5000, error.out()), CONNPOOL_OK)
            << error.message();
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
        EXPECT_LT(Clock::now() - start, scaled(2s));
    }

    connpool_pool *pool_ = nullptr;
    std::string app_;
};

TEST_F(ExporterTest, ServesEveryRouteOverHttp) {
    Exporter exporter;
    ASSERT_GT(exporter.port, 0);

    Response pools = request(exporter.port, "GET", "/pools");
    EXPECT_EQ(pools.status, 200) << pools.body;
    EXPECT_EQ(httptest::header_value(pools, "Content-Type"), "application/json");
    EXPECT_NE(pools.body.find("\"exported\""), std::string::npos) << pools.body;

    Response one = request(exporter.port, "GET", "/pools/exported?x=1");
    EXPECT_EQ(one.status, 200) << one.body;
    EXPECT_NE(one.body.find("\"health\""), std::string::npos) << one.body;

    Response health = request(exporter.port, "GET", "/health");
    EXPECT_EQ(health.status, 200) << health.body;

    Response metrics = request(exporter.port, "GET", "/metrics");
    EXPECT_EQ(metrics.status, 200) << metrics.body;
    EXPECT_EQ(httptest::header_value(metrics, "Content-Type"),
              "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(metrics.body.find("pool_name=\"exported\""), std::string::npos) << metrics.body;
    Response open = request(exporter.port, "GET", "/metrics",
                            "Accept: application/openmetrics-text; version=1.0.0\r\n");
    EXPECT_EQ(httptest::header_value(open, "Content-Type"),
              "application/openmetrics-text; version=1.0.0; charset=utf-8");

    Response head = request(exporter.port, "HEAD", "/health");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());

    EXPECT_EQ(request(exporter.port, "GET", "/nope").status, 404);
    EXPECT_EQ(request(exporter.port, "DELETE", "/pools").status, 405);
    EXPECT_EQ(request(exporter.port, "GET", "/pools/bad%2Fname").status, 400);
    EXPECT_EQ(request(exporter.port, "GET", "/pools/" + std::string(3000, 'a')).status, 414);
    Response unauthorized =
        request(exporter.port, "POST", "/pools/exported/close", "Authorization: Bearer wrong\r\n");
    EXPECT_EQ(unauthorized.status, 401);
    EXPECT_EQ(httptest::header_value(unauthorized, "WWW-Authenticate"), "Bearer");

    Response closed = request(exporter.port, "POST", "/pools/exported/close",
                              std::string("Authorization: Bearer ") + kToken + "\r\n");
    EXPECT_EQ(closed.status, 200) << closed.body;
    EXPECT_EQ(request(exporter.port, "GET", "/pools/exported").status, 404);
    EXPECT_EQ(request(exporter.port, "POST", "/pools/close-all",
                      std::string("Authorization: Bearer ") + kToken + "\r\n")
                  .status,
              200);
}

TEST_F(ExporterTest, MutatingRoutesAreOffWithoutAToken) {
    Exporter exporter(nullptr);
    EXPECT_EQ(
        request(exporter.port, "POST", "/pools/close-all", "Authorization: Bearer x\r\n").status,
        403);
    EXPECT_EQ(request(exporter.port, "GET", "/pools/exported").status, 200);
}

TEST_F(ExporterTest, HealthIs503WhenThePoolIsUnhealthy) {
    Exporter exporter;
    std::vector<connpool_lease *> leases(4);
    for (auto &lease : leases) ASSERT_EQ(connpool_pool_acquire(&lease, pool_, 5000, nullptr), 0);
    Response health = request(exporter.port, "GET", "/health");
    EXPECT_EQ(health.status, 503) << health.body;
    EXPECT_NE(health.body.find("unhealthy"), std::string::npos) << health.body;
    for (auto *lease : leases) connpool_lease_release(lease, nullptr);
    EXPECT_EQ(request(exporter.port, "GET", "/health").status, 200);
}

TEST_F(ExporterTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    Exporter exporter;
    Connection connection(exporter.port);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(connection.send("GET /no-such-route HTTP/1.1\r\nHost: x\r\n\r\n"));
        Response r = httptest::parse_response(connection.read_response(10s));
        EXPECT_EQ(r.status, 404) << i;
    }
}

TEST_F(ExporterTest, MalformedRequestsGetA4xxAndTheServerGoesOn) {
    Exporter exporter;
    struct Case {
        const char *name;
        std::string bytes;
        int status;  // 0: the server may just close
    };
    const std::vector<Case> cases = {
        {"garbage", std::string("\x01\x02\x03\xff\xfe garbage\r\n\r\n", 16), 400},
        {"no request line", "\r\n\r\n\r\n", 400},
        {"method only", "GET\r\n\r\n", 400},
        {"no version", "GET /health\r\n\r\n", 400},
        {"bad version", "GET /health HTTP/9.9\r\n\r\n", 400},
        {"header without colon", "GET /health HTTP/1.1\r\nnonsense\r\n\r\n", 400},
        {"huge header",
         "GET /health HTTP/1.1\r\nX-Big: " + std::string(64 * 1024, 'x') + "\r\n\r\n", 431},
        {"many headers",
         "GET /health HTTP/1.1\r\n" +
             [] {
                 std::string h;
                 for (int i = 0; i < 2000; ++i) h += "X-H" + std::to_string(i) + ": v\r\n";
                 return h;
             }() +
             "\r\n",
         431},
        {"huge body", "POST /pools/close-all HTTP/1.1\r\nContent-Length: 100000000\r\n\r\nxx", 413},
        {"bad content length", "GET /health HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400},
        {"tls client hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 0},
        {"nul bytes", std::string(64, '\0'), 0},
    };
    for (const Case &c : cases) {
        SCOPED_TRACE(c.name);
        Connection connection(exporter.port);
        ASSERT_TRUE(connection.connected());
        connection.send(c.bytes);
        bool closed = false;
        const std::string raw = connection.read_until_closed(scaled(10s), &closed);
        if (c.status != 0) {
            EXPECT_EQ(httptest::parse_response(raw).status, c.status) << raw.substr(0, 200);
        }
        EXPECT_TRUE(closed) << "the server kept a broken connection open";
        EXPECT_TRUE(answers(exporter.port));
    }
    expect_pool_serves();
}

TEST_F(ExporterTest, ASlowClientIsDroppedAtTheReadDeadline) {
    Exporter exporter;
    Connection slow(exporter.port);
    ASSERT_TRUE(slow.send("GET /health HTTP/1.1\r\nHo"));
    const auto start = Clock::now();
    // Meanwhile the server answers others and the pool serves leases.
    EXPECT_TRUE(answers(exporter.port));
    expect_pool_serves();
    bool closed = false;
    slow.read_until_closed(scaled(30s), &closed);
    const auto waited = Clock::now() - start;
    EXPECT_TRUE(closed);
    EXPECT_GT(waited, 3s);  // the read deadline is 5 s
    EXPECT_LT(waited, scaled(15s));
}

TEST_F(ExporterTest, ConcurrentClientsAreAllServed) {
    Exporter exporter;
    std::atomic<int> ok{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 8; ++t) {
        clients.emplace_back([&] {
            for (int i = 0; i < 25; ++i) {
                const char *target = i % 3 == 0 ? "/metrics" : i % 3 == 1 ? "/pools" : "/health";
                if (request(exporter.port, "GET", target).status == 200) ++ok;
            }
        });
    }
    // Leases keep flowing while the exporter renders.
    for (int i = 0; i < 50; ++i) expect_pool_serves();
    for (auto &client : clients) client.join();
    EXPECT_EQ(ok.load(), 8 * 25);
}

TEST_F(ExporterTest, AConnectionFloodIsCappedAndTheServerRecovers) {
    Exporter exporter;
    std::vector<std::unique_ptr<Connection>> flood;
    for (int i = 0; i < 100; ++i) flood.push_back(std::make_unique<Connection>(exporter.port));
    // Connections past the cap are closed at once; the ones admitted wait for a request.
    // (Checked well inside the 5 s read deadline, after which the admitted ones close too.)
    std::this_thread::sleep_for(1s);
    int closed_at_once = 0;
    for (auto &connection : flood) {
        bool closed = false;
        connection->read_until_closed(1ms, &closed);
        if (closed) ++closed_at_once;
    }
    EXPECT_GE(closed_at_once, 100 - 64);
    EXPECT_LT(closed_at_once, 100);
    expect_pool_serves();
    flood.clear();
    // Once the flood is gone the server answers again (its sessions notice the closes).
    bool back = answers(exporter.port);
    for (int i = 0; i < 100 && !back; ++i) {
        std::this_thread::sleep_for(50ms);
        back = answers(exporter.port);
    }
    EXPECT_TRUE(back);
}

TEST_F(ExporterTest, StopWithClientsConnectedIsPromptAndFinal) {
    auto exporter = std::make_unique<Exporter>();
    const int port = exporter->port;
    std::vector<std::unique_ptr<Connection>> idle;
    for (int i = 0; i < 5; ++i) idle.push_back(std::make_unique<Connection>(port));
    Connection partial(port);
    partial.send("GET /health HTTP/1.1\r\n");
    Connection kept(port);
    kept.send("GET /no-such-route HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(httptest::parse_response(kept.read_response(10s)).status, 404);

    const auto start = Clock::now();
    exporter.reset();  // connpool_exporter_stop
    EXPECT_LT(Clock::now() - start, scaled(3s));
    for (auto &connection : idle) {
        bool closed = false;
        connection->read_until_closed(2s, &closed);
        EXPECT_TRUE(closed);
    }
    EXPECT_FALSE(Connection(port).connected()) << "still listening after stop";
}

TEST(ExporterHandles, StaleMadeUpAndNullHandlesAreRefused) {
    connpool_exporter *exporter = nullptr;
    ASSERT_EQ(connpool_exporter_start(&exporter, "127.0.0.1:0", nullptr, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_exporter_stop(exporter), CONNPOOL_OK);
    EXPECT_EQ(connpool_exporter_stop(exporter), CONNPOOL_ERR_INVALID_HANDLE);
    int32_t port = -1;
    Error error;
    EXPECT_EQ(connpool_exporter_port(&port, exporter, error.out()), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_NE(error.message().find("exporter"), std::string::npos) << error.message();
    auto *made_up = reinterpret_cast<connpool_exporter *>(uintptr_t{0x8600001200000007});
    EXPECT_EQ(connpool_exporter_stop(made_up), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_exporter_port(&port, made_up, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    // A pool handle is not an exporter.
    EXPECT_EQ(connpool_exporter_stop(nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_exporter_port(nullptr, made_up, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_exporter_port(&port, nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_exporter_start(nullptr, nullptr, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
}

TEST(ExporterHandles, BadAddressesAreRefusedWithAReason) {
    for (const char *address :
         {"", "nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:12ab",
          "example.com:80", "[::1", "::1:80", "300.1.1.1:80"}) {
        connpool_exporter *exporter = nullptr;
        Error error;
        EXPECT_EQ(connpool_exporter_start(&exporter, address, nullptr, error.out()),
                  CONNPOOL_ERR_INVALID_ARGUMENT)
            << address;
        EXPECT_NE(error.message().find("address"), std::string::npos) << error.message();
        EXPECT_EQ(exporter, nullptr);
    }
    // A port in use: the message says it cannot listen.
    connpool_exporter *first = nullptr;
    ASSERT_EQ(connpool_exporter_start(&first, "localhost:0", nullptr, nullptr), CONNPOOL_OK);
    int32_t port = 0;
    ASSERT_EQ(connpool_exporter_port(&port, first, nullptr), CONNPOOL_OK);
    connpool_exporter *second = nullptr;
    Error error;
    const std::string taken = "127.0.0.1:" + std::to_string(port);
    EXPECT_EQ(connpool_exporter_start(&second, taken.c_str(), nullptr, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("cannot listen"), std::string::npos) << error.message();
    EXPECT_EQ(connpool_exporter_stop(first), CONNPOOL_OK);
}

// exit() with an exporter running: the static destructor stops it and the process ends
// normally. A child after fork() may stop the parent's handle (only forgotten there) while
// the parent's exporter keeps serving.
// Plain builds only: under TSan a child of a threaded fork cannot start threads, and under ASan
// the child once hung at exit in a loaded parallel run (not yet understood: the parent's Asio
// threads may hold a lock at fork time that forgetting their exporter needs in the child).
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
TEST(ExporterLifetime, ExitStopsRunningExportersAndForkLeavesTheParentsAlone) {
    Exporter parent(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        int code = connpool_exporter_stop(parent.handle) == CONNPOOL_OK ? 0 : 10;
        parent.handle = nullptr;
        connpool_exporter *own = nullptr;
        if (connpool_exporter_start(&own, nullptr, nullptr, nullptr) != CONNPOOL_OK) code = 11;
        std::exit(code);  // `own` still running: stopped by the library at exit
    }
    int status = 0;
    bool exited = false;
    for (int i = 0; i < 300 && !exited; ++i) {
        exited = waitpid(child, &status, WNOHANG) == child;
        if (!exited) std::this_thread::sleep_for(50ms);
    }
    if (!exited) kill(child, SIGKILL), waitpid(child, &status, 0);
    ASSERT_TRUE(exited) << "the child hung at exit";
    ASSERT_TRUE(WIFEXITED(status)) << "the child crashed (signal " << WTERMSIG(status) << ")";
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_TRUE(answers(parent.port)) << "the parent's exporter stopped serving";
}
#endif

}  // namespace
}  // namespace connpool::pgtest
