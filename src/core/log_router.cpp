#include "core/log_router.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <system_error>
#include <utility>

#include <spdlog/sinks/stdout_sinks.h>

namespace connpool {

// ----- the sink -----------------------------------------------------------------------------

PoolLogSink::PoolLogSink(const std::string &pool_name, int explicit_level, int stderr_level)
    : pool_name_(std::make_shared<const std::string>(pool_name)),
      explicit_level_(explicit_level),
      stderr_level_(stderr_level),
      stderr_(std::make_shared<spdlog::sinks::stderr_sink_mt>()) {}

void PoolLogSink::log(const spdlog::details::log_msg &msg) {
    const int level = static_cast<int>(msg.level);
    // Copied before any lock is taken: the queue itself never allocates.
    std::string text(msg.payload.data(), msg.payload.size());
    if (LogRouter::instance().route(*this, level, std::move(text))) return;
    // The logger's level may still be a previous target's while a change is in progress.
    if (level >= stderr_level_) stderr_->log(msg);
}

void PoolLogSink::flush() {
    stderr_->flush();
}

void PoolLogSink::set_pattern(const std::string &pattern) {
    stderr_->set_pattern(pattern);
}

void PoolLogSink::set_formatter(std::unique_ptr<spdlog::formatter> formatter) {
    stderr_->set_formatter(std::move(formatter));
}

// ----- the router ---------------------------------------------------------------------------

namespace {

std::atomic<LogRouter *> the_router{nullptr};

// How long process exit waits for a callback call in progress.
constexpr auto kExitWait = std::chrono::milliseconds(200);

}  // namespace

// Stops deliveries when the library is unloaded or the process exits: the host's code may be
// torn down next. The router itself is never destroyed (the delivery thread may still be in
// a callback that does not return).
struct LogRouterExit {
    LogRouterExit() = default;
    LogRouterExit(const LogRouterExit &) = delete;
    LogRouterExit &operator=(const LogRouterExit &) = delete;
    ~LogRouterExit() {
        if (LogRouter *router = the_router.load(std::memory_order_acquire)) router->stop_at_exit();
    }
};
namespace {
LogRouterExit exit_guard;
}  // namespace

LogRouter &LogRouter::instance() {
    static LogRouter *const router = [] {
        auto *made = new LogRouter();
        the_router.store(made, std::memory_order_release);
        // A forked child has no delivery thread and must not wait on the parent's: the
        // prepare handler holds the mutex across fork() so that the child gets a consistent
        // router, which it then resets.
        pthread_atfork([] { the_router.load()->mutex_.lock(); },
                       [] { the_router.load()->mutex_.unlock(); },
                       [] { the_router.load()->in_forked_child(); });
        return made;
    }();
    return *router;
}

LogRouter::LogRouter()
    : ring_(kQueueCapacity),
      work_cv_(std::make_unique<std::condition_variable>()),
      idle_cv_(std::make_unique<std::condition_variable>()) {}

int64_t LogRouter::dropped() const {
    return dropped_.load(std::memory_order_relaxed);
}

void LogRouter::attach(spdlog::logger &logger, PoolLogSink &sink) {
    std::lock_guard<std::mutex> lock(mutex_);
    sinks_.push_back(&sink);
    sink.logger_ = &logger;
    refresh_level_locked(sink);
}

void LogRouter::detach(PoolLogSink &sink) {
    std::unique_lock<std::mutex> lock(mutex_);
    sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), &sink), sinks_.end());
    sink.logger_ = nullptr;
    // The pool is going: its own callback must not hear from it once that is done.
    const std::shared_ptr<const LogTarget> old = std::move(sink.own_target_);
    flush_locked(lock, old.get());
}

void LogRouter::set_process_target(std::shared_ptr<const LogTarget> target) {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::shared_ptr<const LogTarget> old = std::exchange(process_target_, std::move(target));
    for (PoolLogSink *sink : sinks_) refresh_level_locked(*sink);
    flush_locked(lock, old.get());
}

void LogRouter::set_pool_target(PoolLogSink &sink, std::shared_ptr<const LogTarget> target) {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::shared_ptr<const LogTarget> old = std::exchange(sink.own_target_, std::move(target));
    refresh_level_locked(sink);
    flush_locked(lock, old.get());
}

// The logger formats only what will be used: the pool's explicit level, else its target's.
void LogRouter::refresh_level_locked(PoolLogSink &sink) const {
    if (sink.logger_ == nullptr) return;
    const LogTarget *target = sink.own_target_ ? sink.own_target_.get() : process_target_.get();
    int level = sink.stderr_level_;
    if (sink.explicit_level_ >= 0) {
        level = sink.explicit_level_;
    } else if (target != nullptr) {
        level = target->min_level;
    }
    sink.logger_->set_level(static_cast<spdlog::level::level_enum>(level));
}

bool LogRouter::route(const PoolLogSink &sink, int level, std::string &&message) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return false;
    const std::shared_ptr<const LogTarget> &target =
        sink.own_target_ ? sink.own_target_ : process_target_;
    if (!target) return false;
    // Below the target's level: a level change is in progress.
    if (sink.explicit_level_ < 0 && level < target->min_level) return true;
    if (size_ == ring_.size()) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    Entry &entry = ring_[(head_ + size_) % ring_.size()];
    entry.level = level;
    entry.pool_name = sink.pool_name_;
    entry.message = std::move(message);
    entry.target = target;
    ++size_;
    ++queued_;
    if (!running_) start_thread_locked();
    work_cv_->notify_one();
    return true;
}

void LogRouter::start_thread_locked() {
    try {
        std::thread([this] { deliver_loop(); }).detach();
        running_ = true;
    } catch (const std::system_error &) {
        // No thread now: the message waits, and the next one tries again.
    }
}

void LogRouter::deliver_loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    delivery_thread_ = std::this_thread::get_id();
    for (;;) {
        work_cv_->wait(lock, [this] { return stopping_ || size_ > 0; });
        if (stopping_) break;
        Entry entry = std::move(ring_[head_]);
        head_ = (head_ + 1) % ring_.size();
        --size_;
        in_flight_ = entry.target.get();
        lock.unlock();
        if (entry.target) {
            try {
                entry.target->function(entry.target->user_data, entry.level,
                                       entry.pool_name->c_str(), entry.message.c_str());
            } catch (...) {
                // A C++ host's exception must not end the delivery thread.
            }
        }
        entry = Entry{};  // frees the message outside the lock
        lock.lock();
        in_flight_ = nullptr;
        ++finished_;
        idle_cv_->notify_all();
    }
    running_ = false;
    delivery_thread_ = {};
    idle_cv_->notify_all();
}

// Waits until what was queued for `old` is delivered (bounded), then for its call in progress.
void LogRouter::flush_locked(std::unique_lock<std::mutex> &lock, const LogTarget *old) {
    if (old == nullptr || stopping_) return;
    // From inside a callback: the delivery thread cannot wait for itself.
    if (std::this_thread::get_id() == delivery_thread_) return;
    const uint64_t until = queued_;
    const bool drained = idle_cv_->wait_for(lock, std::chrono::milliseconds(kFlushLimitMs), [&] {
        return finished_ >= until || !running_ || stopping_;
    });
    if (!drained || finished_ < until) discard_locked(old);
    idle_cv_->wait(lock, [&] { return in_flight_ != old || stopping_; });
}

// Drops the queued messages of `old` (counted): the host is too slow to wait for them.
void LogRouter::discard_locked(const LogTarget *old) {
    for (size_t i = 0; i < size_; ++i) {
        Entry &entry = ring_[(head_ + i) % ring_.size()];
        if (entry.target.get() != old) continue;
        entry.target.reset();
        dropped_.fetch_add(1, std::memory_order_relaxed);
    }
}

void LogRouter::stop_at_exit() {
    std::unique_lock<std::mutex> lock(mutex_);
    stopping_ = true;
    work_cv_->notify_all();
    idle_cv_->wait_for(lock, kExitWait, [this] { return !running_; });
}

// Runs in the child right after fork(), with mutex_ held by the prepare handler: only this
// thread exists. The parent delivers its own queued messages; the child starts afresh.
void LogRouter::in_forked_child() {
    retired_.push_back(std::move(work_cv_));
    retired_.push_back(std::move(idle_cv_));
    work_cv_ = std::make_unique<std::condition_variable>();
    idle_cv_ = std::make_unique<std::condition_variable>();
    for (size_t i = 0; i < size_; ++i) ring_[(head_ + i) % ring_.size()] = Entry{};
    head_ = 0;
    size_ = 0;
    finished_ = queued_;
    in_flight_ = nullptr;
    running_ = false;
    delivery_thread_ = {};
    mutex_.unlock();
}

}  // namespace connpool
