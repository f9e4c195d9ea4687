// connpool_lease_cancel against a server that takes new connections but never answers them
// (the fault proxy's silent and stall modes): it gives up at cancel_timeout with
// CONNPOOL_ERR_TIMEOUT, counts cancel_timeouts, and leaves no thread behind.
#include <filesystem>
#include <thread>

#include "fault_proxy.hpp"
#include "pg_support.hpp"
#include "timing_support.hpp"

namespace connpool::pgtest {
namespace {

using faults::FaultProxy;

constexpr int64_t kCancelTimeoutMs = 300;

class BoundedCancelTest : public RealPoolTest {
  protected:
    void SetUp() override {
        if (fixture_file("conninfo_tcp").empty())
            GTEST_SKIP() << "needs the fixture's TCP conninfo";
        RealPoolTest::SetUp();
    }
    void TearDown() override {
        if (!IsSkipped()) RealPoolTest::TearDown();
    }
    std::string via(const FaultProxy &proxy) {
        std::string tcp = fixture_file("conninfo_tcp");
        const size_t at = tcp.find("port=") + 5;
        tcp.replace(at, tcp.find_first_not_of("0123456789", at) - at, std::to_string(proxy.port()));
        return tcp + " application_name=" + app_;
    }
    // The fixture server's TCP port (its conninfo_tcp ends with port=N).
    static int server_tcp_port() {
        const std::string tcp = fixture_file("conninfo_tcp");
        return std::stoi(tcp.substr(tcp.find("port=") + 5));
    }
    // A pool of 1 with cancel_timeout kCancelTimeoutMs reaching the server through `proxy`,
    // and a lease (lease_) running pg_sleep on it.
    void sleep_on_a_pool_through(const FaultProxy &proxy) {
        make({{"max_size", "1"}, {"cancel_timeout", std::to_string(kCancelTimeoutMs).c_str()}},
             via(proxy));
        lease_ = acquire();
        if (lease_ != nullptr) start_sleep(lease_);
    }
    // Sends pg_sleep on the lease and waits until the backend runs it.
    void start_sleep(connpool_lease *lease) {
        const std::string pid = scalar(lease, "SELECT pg_backend_pid()");
        ASSERT_EQ(connpool_lease_send(lease, "SELECT pg_sleep(30)", 0, nullptr, nullptr),
                  CONNPOOL_OK);
        Admin admin;
        for (int i = 0; i < 1000 && admin.scalar("SELECT state FROM pg_stat_activity WHERE pid = " +
                                                 pid) != "active";
             ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    // Collects the statement's outcome (waiting at most `seconds`).
    connpool_status finish(connpool_lease *lease, Error &error, int seconds = 20) {
        const auto until = Clock::now() + std::chrono::seconds(seconds);
        connpool_status status = CONNPOOL_ERR_IN_PROGRESS;
        while (status == CONNPOOL_ERR_IN_PROGRESS && Clock::now() < until) {
            connpool_result *r = nullptr;
            status = connpool_lease_collect(&r, lease, error.out());
            connpool_result_free(r);
            if (status == CONNPOOL_ERR_IN_PROGRESS) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
        return status;
    }
    // One cancel: must time out at cancel_timeout, not before, not much later.
    void expect_cancel_times_out() {
        Error error;
        const auto start = Clock::now();
        EXPECT_EQ(connpool_lease_cancel(lease_, error.out()), CONNPOOL_ERR_TIMEOUT);
        const int64_t took = ms_since(start);
        EXPECT_GE(took, kCancelTimeoutMs - 5);
        EXPECT_LE(took, kCancelTimeoutMs + slack_ms(150));
        EXPECT_NE(error.message().find("cancel_timeout (300 ms)"), std::string::npos)
            << error.message();
    }
    connpool_lease *lease_ = nullptr;
};

TEST_F(BoundedCancelTest, CancelToASilentServerEndsAtCancelTimeoutWithoutThreads) {
    FaultProxy proxy(server_tcp_port());
    sleep_on_a_pool_through(proxy);
    ASSERT_NE(lease_, nullptr);
    proxy.set_mode(FaultProxy::Mode::silent);  // the statement's own connection keeps flowing
    // With libpq 15 (whose PGcancel layout is compiled in) a cancel uses no thread at all.
    const int threads_before = threads_now();
    for (int i = 0; i < 20; ++i) expect_cancel_times_out();
    EXPECT_EQ(threads_now(), threads_before) << "a cancel left a thread behind";
    EXPECT_EQ(stats().cancel_timeouts, 20);

    // The server answers again: the next cancel gets through and the statement ends.
    proxy.set_mode(FaultProxy::Mode::pass);
    const auto start = Clock::now();
    EXPECT_EQ(connpool_lease_cancel(lease_, nullptr), CONNPOOL_OK);
    Error error;
    EXPECT_EQ(finish(lease_, error), CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_EQ(error.sqlstate(), "57014");
    EXPECT_LT(ms_since(start), 5000);
    EXPECT_EQ(scalar(lease_, "SELECT 1"), "1");
    EXPECT_EQ(connpool_lease_release(lease_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats().cancel_timeouts, 20);
}

TEST_F(BoundedCancelTest, CancelThroughAStalledLinkEndsAtCancelTimeout) {
    FaultProxy proxy(server_tcp_port());
    sleep_on_a_pool_through(proxy);
    ASSERT_NE(lease_, nullptr);
    // A black hole: connections are made but no byte moves either way.
    proxy.set_mode(FaultProxy::Mode::stall);
    expect_cancel_times_out();
    expect_cancel_times_out();
    EXPECT_EQ(stats().cancel_timeouts, 2);
    // The lease's own link is stalled too: give it back; the pool closes what it cannot reset.
    proxy.set_mode(FaultProxy::Mode::pass);
    EXPECT_EQ(connpool_lease_cancel(lease_, nullptr), CONNPOOL_OK);
    Error error;
    EXPECT_EQ(finish(lease_, error), CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_EQ(error.sqlstate(), "57014");
    EXPECT_EQ(connpool_lease_release(lease_, nullptr), CONNPOOL_OK);
}

}  // namespace
}  // namespace connpool::pgtest
