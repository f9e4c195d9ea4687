// BoundedWorkers (the resolver's and the PQcancel fallback's threads) and the host-name
// resolver's rewriting of host/hostaddr/port.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "pg/bounded_workers.hpp"
#include "pg/resolver.hpp"

namespace connpool::testing {
namespace {

using namespace std::chrono_literals;

// Never destroyed (its threads may still run a job): as the library itself keeps them.
BoundedWorkers &leaked(size_t threads, size_t queued) {
    return *new BoundedWorkers(threads, queued);
}

// A job that blocks until `open` is set.
std::function<void()> blocked_on(const std::shared_ptr<std::atomic<bool>> &open) {
    return [open] {
        while (!open->load()) std::this_thread::sleep_for(1ms);
    };
}

TEST(BoundedWorkersTest, RunsAJobAndWaitsForItsEnd) {
    BoundedWorkers &workers = leaked(2, 8);
    auto ran = std::make_shared<std::atomic<int>>(0);
    EXPECT_EQ(workers.run([ran] { ++*ran; }, Clock::now() + 5s), BoundedWorkers::Outcome::done);
    EXPECT_EQ(ran->load(), 1);
}

TEST(BoundedWorkersTest, HungJobsNeverTakeMoreThanTheThreadBound) {
    BoundedWorkers &workers = leaked(2, 8);
    auto open = std::make_shared<std::atomic<bool>>(false);
    for (int i = 0; i < 5; ++i) {
        const auto start = Clock::now();
        EXPECT_EQ(workers.run(blocked_on(open), start + 30ms), BoundedWorkers::Outcome::timed_out);
        const auto took = Clock::now() - start;
        EXPECT_GE(took, 30ms);
        EXPECT_LT(took, 500ms);
    }
    EXPECT_EQ(workers.threads(), 2U);
    open->store(true);
    EXPECT_EQ(workers.run([] {}, Clock::now() + 5s), BoundedWorkers::Outcome::done);
    EXPECT_EQ(workers.threads(), 2U);
}

TEST(BoundedWorkersTest, AJobGivenUpBeforeItStartedNeverRuns) {
    BoundedWorkers &workers = leaked(1, 8);
    auto open = std::make_shared<std::atomic<bool>>(false);
    auto started = std::make_shared<std::atomic<bool>>(false);
    // Long enough for the one thread to start it even under a sanitizer on a busy machine: a
    // job given up before it started would leave the thread free for the next one.
    EXPECT_EQ(workers.run(
                  [open, started] {
                      *started = true;
                      blocked_on(open)();
                  },
                  Clock::now() + 500ms),
              BoundedWorkers::Outcome::timed_out);
    ASSERT_TRUE(started->load()) << "the blocking job never started: the test proves nothing";
    auto ran = std::make_shared<std::atomic<bool>>(false);
    EXPECT_EQ(workers.run([ran] { *ran = true; }, Clock::now() + 10ms),
              BoundedWorkers::Outcome::timed_out);
    open->store(true);
    EXPECT_EQ(workers.run([] {}, Clock::now() + 5s), BoundedWorkers::Outcome::done);
    EXPECT_FALSE(ran->load());
}

TEST(BoundedWorkersTest, AbandonEndsTheWaitEarly) {
    BoundedWorkers &workers = leaked(1, 8);
    auto open = std::make_shared<std::atomic<bool>>(false);
    std::atomic<bool> abandon{true};
    const auto start = Clock::now();
    EXPECT_EQ(workers.run(blocked_on(open), start + 10s, &abandon),
              BoundedWorkers::Outcome::timed_out);
    EXPECT_LT(Clock::now() - start, 1s);
    open->store(true);
}

TEST(BoundedWorkersTest, AFullQueueRefusesAtOnce) {
    BoundedWorkers &workers = leaked(1, 1);
    auto open = std::make_shared<std::atomic<bool>>(false);
    EXPECT_EQ(workers.run(blocked_on(open), Clock::now() + 10ms),
              BoundedWorkers::Outcome::timed_out);  // holds the only thread
    std::thread queued([&] { workers.run([] {}, Clock::now() + 300ms); });
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(workers.run([] {}, Clock::now() + 5s), BoundedWorkers::Outcome::busy);
    queued.join();
    open->store(true);
}

struct Resolved {
    ResolveOutcome outcome;
    HostOverrides hosts;
    std::string message;
};

Resolved resolve(const std::string &conninfo) {
    Resolved r{};
    std::atomic<bool> abandon{false};
    r.outcome = resolve_host_names(conninfo, Clock::now() + 5s, abandon, r.hosts, r.message);
    return r;
}

TEST(ResolverTest, SocketsNumericHostsAndAGivenHostaddrAreLeftToLibpq) {
    for (const char *conninfo : {"host=/tmp dbname=x", "host=127.0.0.1", "host=::1,10.0.0.1",
                                 "host=localhost hostaddr=127.0.0.1", "dbname=x host=@abstract"}) {
        EXPECT_EQ(resolve(conninfo).outcome, ResolveOutcome::untouched) << conninfo;
    }
}

TEST(ResolverTest, ANameBecomesOneEntryPerAddressKeepingTheName) {
    const Resolved r = resolve("host=/tmp,localhost port=5433,5434 dbname=x");
    ASSERT_EQ(r.outcome, ResolveOutcome::resolved) << r.message;
    // The socket keeps an empty hostaddr (libpq goes by host); the name repeats per address.
    EXPECT_EQ(r.hosts.host.rfind("/tmp,localhost", 0), 0U) << r.hosts.host;
    EXPECT_EQ(r.hosts.hostaddr.front(), ',') << r.hosts.hostaddr;
    EXPECT_NE(r.hosts.hostaddr.find("127.0.0.1"), std::string::npos) << r.hosts.hostaddr;
    EXPECT_EQ(r.hosts.port.rfind("5433,5434", 0), 0U) << r.hosts.port;
    const auto count = [](const std::string &s) { return std::count(s.begin(), s.end(), ','); };
    EXPECT_EQ(count(r.hosts.host), count(r.hosts.hostaddr));
    EXPECT_EQ(count(r.hosts.host), count(r.hosts.port));
}

TEST(ResolverTest, AnUnknownNameFailsWithTheName) {
    const Resolved r = resolve("host=no-such-host.invalid");
    EXPECT_EQ(r.outcome, ResolveOutcome::failed);
    EXPECT_NE(r.message.find("no-such-host.invalid"), std::string::npos) << r.message;
}

}  // namespace
}  // namespace connpool::testing
