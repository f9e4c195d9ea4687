#include "pg/bounded_workers.hpp"

#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <thread>
#include <utility>

namespace connpool {
namespace {

// A waiting caller re-checks `abandon` at least this often.
constexpr auto kAbandonSlice = std::chrono::milliseconds(50);

}  // namespace

struct BoundedWorkers::Task {
    std::function<void()> job;
    bool started = false;    // guarded by mutex_
    bool ended = false;      // guarded by mutex_
    bool abandoned = false;  // guarded by mutex_: the caller gave up before it started
};

BoundedWorkers::BoundedWorkers(size_t threads, size_t max_queued)
    : max_threads_(std::max<size_t>(threads, 1)), max_queued_(max_queued), pid_(getpid()) {}

size_t BoundedWorkers::threads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_;
}

void BoundedWorkers::forget_parent_locked() {
    // After fork() the child has none of the parent's workers: start afresh. The parent's
    // queued tasks belong to callers that do not exist in this process.
    queue_.clear();
    threads_ = 0;
    idle_ = 0;
    pid_ = getpid();
}

bool BoundedWorkers::start_worker_locked() {
    try {
        std::thread(&BoundedWorkers::work, this).detach();
    } catch (const std::system_error &) {
        return threads_ > 0;  // no new thread: the running ones will get to the task
    }
    ++threads_;
    ++idle_;
    return true;
}

BoundedWorkers::Outcome BoundedWorkers::run(std::function<void()> job, TimePoint deadline,
                                            const std::atomic<bool> *abandon) {
    auto task = std::make_shared<Task>();
    task->job = std::move(job);
    std::unique_lock<std::mutex> lock(mutex_);
    if (pid_ != getpid()) forget_parent_locked();
    if (queue_.size() >= max_queued_) return Outcome::busy;
    // One more worker when the idle ones cannot take every queued task and this one.
    if (queue_.size() >= idle_ && threads_ < max_threads_ && !start_worker_locked()) {
        return Outcome::busy;
    }
    queue_.push_back(task);
    queued_.notify_one();
    for (;;) {
        if (task->ended) return Outcome::done;
        const bool abandoned = abandon != nullptr && abandon->load(std::memory_order_relaxed);
        if (abandoned || Clock::now() >= deadline) break;
        ended_.wait_until(lock, std::min(deadline, Clock::now() + kAbandonSlice));
    }
    if (!task->started) {
        task->abandoned = true;  // its worker skips it
        std::erase(queue_, task);
    }
    return Outcome::timed_out;
}

void BoundedWorkers::work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        queued_.wait(lock, [this] { return !queue_.empty(); });
        std::shared_ptr<Task> task = std::move(queue_.front());
        queue_.pop_front();
        if (task->abandoned) continue;
        task->started = true;
        --idle_;
        lock.unlock();
        task->job();
        task->job = nullptr;  // frees what the job owned before the next one starts
        lock.lock();
        ++idle_;
        task->ended = true;
        ended_.notify_all();
    }
}

}  // namespace connpool
