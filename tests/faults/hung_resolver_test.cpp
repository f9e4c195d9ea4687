// Host-name resolution bounded by connect_timeout. Run by tests/faults/hung_resolver.sh, in a
// private mount namespace whose DNS server (127.53.14.1) is a UDP socket of this test that
// never answers: libpq's own getaddrinfo would hang there for the resolver's timeouts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "pg_support.hpp"
#include "timing_support.hpp"

namespace connpool::pgtest {
namespace {

constexpr const char *kSilentDns = "127.53.14.1";

std::string file_text(const char *path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class HungResolverTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (file_text("/etc/resolv.conf").find(kSilentDns) == std::string::npos) {
            GTEST_SKIP() << "run through tests/faults/hung_resolver.sh";
        }
        dns_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(53);
        inet_pton(AF_INET, kSilentDns, &address.sin_addr);
        ASSERT_EQ(::bind(dns_, reinterpret_cast<sockaddr *>(&address), sizeof address), 0)
            << "cannot listen on " << kSilentDns << ":53 (root needed)";
        tcp_ = fixture_file("conninfo_tcp");
        ASSERT_FALSE(tcp_.empty()) << "no server: run through ctest (fixture postgres)";
    }
    void TearDown() override {
        if (dns_ >= 0) ::close(dns_);
    }
    // The fixture's TCP conninfo with its host replaced.
    std::string with_host(const std::string &host) const {
        std::string conninfo = tcp_;
        const size_t at = conninfo.find("host=") + 5;
        conninfo.replace(at, conninfo.find(' ', at) - at, host);
        return conninfo;
    }
    // connpool_connect with connect_timeout=1000 ms; the status, message and time taken.
    connpool_status connect(const std::string &conninfo, std::string &message, int64_t &took_ms,
                            connpool_lease **lease = nullptr) {
        connpool_options *options = nullptr;
        EXPECT_EQ(connpool_options_new(&options, nullptr), CONNPOOL_OK);
        EXPECT_EQ(connpool_options_set(options, "connect_timeout", "1000", nullptr), CONNPOOL_OK);
        connpool_lease *out = nullptr;
        Error error;
        const auto start = Clock::now();
        const connpool_status status =
            connpool_connect(&out, conninfo.c_str(), options, error.out());
        took_ms = ms_since(start);
        connpool_options_free(options);
        message = error.message();
        if (lease != nullptr) {
            *lease = out;
        } else if (out != nullptr) {
            connpool_lease_release(out, nullptr);
        }
        return status;
    }
    int dns_ = -1;
    std::string tcp_;
};

TEST_F(HungResolverTest, ConnectGivesUpAtConnectTimeoutNamingHostNameResolution) {
    std::string message;
    int64_t took = 0;
    EXPECT_EQ(connect(with_host("db.connpool-hung.test"), message, took), CONNPOOL_ERR_TIMEOUT);
    EXPECT_GE(took, 990);
    EXPECT_LE(took, 1000 + slack_ms(300));
    EXPECT_NE(message.find("connect_timeout"), std::string::npos) << message;
    EXPECT_NE(message.find("host-name resolution"), std::string::npos) << message;
    EXPECT_NE(message.find("db.connpool-hung.test"), std::string::npos) << message;
}

TEST_F(HungResolverTest, HungLookupsPileUpOnAFewThreadsOnly) {
    const int before = threads_now();
    std::vector<std::thread> callers;
    std::atomic<int> timed_out{0};
    for (int i = 0; i < 6; ++i) {
        callers.emplace_back([&, i] {
            std::string message;
            int64_t took = 0;
            const std::string name = "db" + std::to_string(i) + ".connpool-hung.test";
            if (connect(with_host(name), message, took) == CONNPOOL_ERR_TIMEOUT &&
                took <= 1000 + slack_ms(500)) {
                ++timed_out;
            }
        });
    }
    for (auto &caller : callers) caller.join();
    EXPECT_EQ(timed_out.load(), 6);
    // Left behind: the resolver's threads (at most 8, six still inside getaddrinfo).
    EXPECT_LE(threads_now(), before + 8);
}

TEST_F(HungResolverTest, NamesThatResolveNumericHostsAndSocketsStillConnect) {
    for (const std::string &conninfo :
         {with_host("connpool-resolves.test"), with_host("127.0.0.1"),
          with_host("db.connpool-hung.test") + " hostaddr=127.0.0.1", fixture_file("conninfo")}) {
        std::string message;
        int64_t took = 0;
        connpool_lease *lease = nullptr;
        EXPECT_EQ(connect(conninfo, message, took, &lease), CONNPOOL_OK)
            << conninfo << ": " << message;
        EXPECT_LT(took, 1000);
        if (lease != nullptr) {
            EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
        }
    }
}

}  // namespace
}  // namespace connpool::pgtest
