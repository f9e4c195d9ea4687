// A scriptable in-memory Connector for deterministic unit tests of pool logic: no sockets.
// FakeServer holds the knobs and the counts; connections remember their state so tests can
// leave one "in a transaction" or "broken" and watch what the pool does with it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <thread>

#include "core/connector.hpp"

namespace connpool::testing {

enum class FakeState { idle, in_transaction, busy, broken };

struct FakeServer {
    std::atomic<bool> refuse{false};              // connects fail
    std::atomic<bool> refuse_permanently{false};  // ...as an authentication failure would
    std::atomic<int> connect_delay_ms{0};         // connects take this long (watching abandon)
    std::atomic<bool> ping_fails{false};
    std::atomic<int> ping_delay_ms{0};  // a ping answers after this long (or its deadline)
    std::atomic<bool> reset_fails{false};
    std::atomic<bool> connect_bad_alloc{false};  // connect throws std::bad_alloc
    std::atomic<bool> alive_bad_alloc{false};    // looks_alive throws std::bad_alloc
    std::atomic<int> connects{0}, closes{0}, pings{0}, resets{0};
    std::atomic<int> attempts{0}, in_flight{0}, max_in_flight{0};
    std::atomic<int> next_id{1};
    std::mutex mutex;
    std::set<int> killed;  // ids whose "server side" went away

    void kill(int id) {
        std::lock_guard<std::mutex> lock(mutex);
        killed.insert(id);
    }
    bool is_killed(int id) {
        std::lock_guard<std::mutex> lock(mutex);
        return killed.count(id) != 0;
    }
    int open_connections() const { return connects.load() - closes.load(); }
};

class FakeConnection final : public Connection {
  public:
    FakeConnection(std::shared_ptr<FakeServer> server, int id)
        : id(id), server_(std::move(server)) {}
    ~FakeConnection() override { server_->closes++; }
    const int id;
    FakeState state = FakeState::idle;

  private:
    std::shared_ptr<FakeServer> server_;
};

class FakeConnector final : public Connector {
  public:
    explicit FakeConnector(std::shared_ptr<FakeServer> server) : server_(std::move(server)) {}

    std::unique_ptr<Connection> connect(TimePoint deadline, const std::atomic<bool> &abandon,
                                        ConnectFailure &failure) override {
        server_->attempts++;
        if (server_->connect_bad_alloc.load()) throw std::bad_alloc();
        const int now_in_flight = ++server_->in_flight;
        int seen = server_->max_in_flight.load();
        while (now_in_flight > seen &&
               !server_->max_in_flight.compare_exchange_weak(seen, now_in_flight)) {
        }
        struct Leave {
            FakeServer &s;
            ~Leave() { s.in_flight--; }
        } leave{*server_};
        const auto until = Clock::now() + Millis(server_->connect_delay_ms.load());
        while (Clock::now() < until) {
            if (abandon.load()) return fail(failure, "abandoned");
            if (Clock::now() >= deadline) return fail(failure, "fake connect timed out");
            std::this_thread::sleep_for(Millis(1));
        }
        if (server_->refuse_permanently.load()) {
            failure.sqlstate = "28P01";
            failure.permanent = true;
            return fail(failure, "fake password authentication failed");
        }
        if (server_->refuse.load()) return fail(failure, "fake server refused the connection");
        server_->connects++;
        return std::make_unique<FakeConnection>(server_, server_->next_id++);
    }
    bool looks_alive(Connection &c) override {
        if (server_->alive_bad_alloc.load()) throw std::bad_alloc();
        return !server_->is_killed(fake(c).id);
    }
    bool ping(Connection &c, TimePoint deadline) override {
        server_->pings++;
        const auto answer_at = Clock::now() + Millis(server_->ping_delay_ms.load());
        while (Clock::now() < answer_at) {
            if (Clock::now() >= deadline) return false;  // no answer in time
            std::this_thread::sleep_for(Millis(1));
        }
        return !server_->ping_fails.load() && !server_->is_killed(fake(c).id);
    }
    ReleaseVerdict verdict_on_release(Connection &c) override {
        switch (fake(c).state) {
            case FakeState::idle:
                return ReleaseVerdict::reuse;
            case FakeState::in_transaction:
                return ReleaseVerdict::reset;
            default:
                return ReleaseVerdict::discard;
        }
    }
    bool reset(Connection &c, TimePoint) override {
        server_->resets++;
        if (server_->reset_fails.load()) return false;
        fake(c).state = FakeState::idle;
        return true;
    }

    uint64_t connection_id(Connection &c) override { return static_cast<uint64_t>(fake(c).id); }
    int32_t backend_pid(Connection &c) override { return 1000 + fake(c).id; }

    static FakeConnection &fake(Connection &c) { return static_cast<FakeConnection &>(c); }

  private:
    std::unique_ptr<Connection> fail(ConnectFailure &failure, const char *why) {
        failure.message = why;
        return nullptr;
    }
    std::shared_ptr<FakeServer> server_;
};

}  // namespace connpool::testing
