// Where the pools' log messages go: to the host's callback (process-wide, or a pool's own), or
// to stderr when there is none. Messages for a callback wait in one bounded process-wide queue
// for one delivery thread, so that a pool thread never runs host code and never waits for it: a
// full queue drops the message and counts it.
//
// Each pool's logger has one PoolLogSink (an spdlog sink) made when the pool is created. The
// sink never changes: what changes at run time is the target it reads under the router's mutex,
// and the logger's level, which the router keeps equal to what the current target wants (so
// spdlog formats nothing that would be filtered out).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>

namespace connpool {

// The host's callback: the C API's connpool_log_callback, with its level numbers (which are
// spdlog's: trace 0 .. critical 5, off 6).
using LogFunction = void (*)(void *user_data, int32_t level, const char *pool_name,
                             const char *message);

struct LogTarget {
    LogFunction function;
    void *user_data;
    int min_level;
};

// One pool's sink. `explicit_level` is the pool's log_level option (-1 when not set: the
// target's min_level decides, else `stderr_level`, from CONNPOOL_LOG_LEVEL).
class PoolLogSink final : public spdlog::sinks::sink {
  public:
    // `stderr_level`: the level for stderr when there is no target (the explicit level if set).
    PoolLogSink(const std::string &pool_name, int explicit_level, int stderr_level);

    void log(const spdlog::details::log_msg &msg) override;
    void flush() override;
    void set_pattern(const std::string &pattern) override;
    void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

  private:
    friend class LogRouter;

    const std::shared_ptr<const std::string> pool_name_;
    const int explicit_level_;
    const int stderr_level_;
    const std::shared_ptr<spdlog::sinks::sink> stderr_;
    spdlog::logger *logger_ = nullptr;             // set by attach, guarded by the router
    std::shared_ptr<const LogTarget> own_target_;  // guarded by the router's mutex
};

class LogRouter {
  public:
    // Entries in the delivery queue: beyond it, messages are dropped and counted.
    static constexpr size_t kQueueCapacity = 1024;
    // How long a target change waits for the queued messages of the old target before dropping
    // the rest (the callback call in progress is always waited for).
    static constexpr int64_t kFlushLimitMs = 500;

    // The process's router (made on first use, never destroyed: the delivery thread may
    // outlive static destruction).
    static LogRouter &instance();

    // A pool's logger and sink start/stop being routed (the logger's level is set here).
    void attach(spdlog::logger &logger, PoolLogSink &sink);
    void detach(PoolLogSink &sink);

    // Null target = stderr. Both wait until the messages queued for the old target have been
    // delivered (at most kFlushLimitMs, then they are dropped) and its call in progress has
    // returned, so the host may free the old target's user data afterwards (except when called
    // from the callback itself, which cannot wait for itself).
    void set_process_target(std::shared_ptr<const LogTarget> target);
    void set_pool_target(PoolLogSink &sink, std::shared_ptr<const LogTarget> target);

    // Messages dropped because the queue was full, since the process started.
    int64_t dropped() const;

    // Queues `message` for the sink's target. False: no target, the caller writes to stderr.
    bool route(const PoolLogSink &sink, int level, std::string &&message);

  private:
    struct Entry {
        int32_t level = 0;
        std::shared_ptr<const std::string> pool_name;
        std::string message;
        std::shared_ptr<const LogTarget> target;  // null: discarded, skip it
    };

    LogRouter();
    void in_forked_child();
    void refresh_level_locked(PoolLogSink &sink) const;
    void start_thread_locked();
    void deliver_loop();
    void flush_locked(std::unique_lock<std::mutex> &lock, const LogTarget *old);
    void discard_locked(const LogTarget *old);
    void stop_at_exit();
    friend struct LogRouterExit;

    mutable std::mutex mutex_;
    std::shared_ptr<const LogTarget> process_target_;
    std::vector<PoolLogSink *> sinks_;
    // The ring of queued messages.
    std::vector<Entry> ring_;
    size_t head_ = 0;
    size_t size_ = 0;
    uint64_t queued_ = 0;                   // messages ever queued
    uint64_t finished_ = 0;                 // ... and since delivered or discarded
    const LogTarget *in_flight_ = nullptr;  // whose callback is running now
    bool running_ = false;                  // the delivery thread exists
    bool stopping_ = false;                 // process exit: no more deliveries
    std::thread::id delivery_thread_;
    // Condition variables are replaced in a forked child (their waiters did not come along);
    // the old ones are kept, unused, in retired_.
    std::unique_ptr<std::condition_variable> work_cv_;  // the delivery thread waits for work
    std::unique_ptr<std::condition_variable> idle_cv_;  // flushes wait for progress
    std::vector<std::unique_ptr<std::condition_variable>> retired_;
    std::atomic<int64_t> dropped_{0};
};

}  // namespace connpool
