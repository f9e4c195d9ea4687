// A fixed number of long-lived threads that run blocking calls (getaddrinfo, libpq's PQcancel)
// for callers that wait only until their own deadline. A caller that gives up leaves its job
// behind: a job not yet started is skipped, one running finishes on its worker unobserved. The
// thread count never grows past its bound, so calls that hang cannot pile up threads: at most
// `threads` of them hang at once; later jobs queue (at most `max_queued`) and their callers give
// up at their deadline.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "core/clock.hpp"

namespace connpool {

class BoundedWorkers {
  public:
    enum class Outcome : uint8_t {
        done,       // the job ran to its end
        timed_out,  // the deadline passed (or `abandon` was set) first
        busy,       // the queue is full, or no worker thread could be started
    };

    BoundedWorkers(size_t threads, size_t max_queued);
    // Never destroyed while the process runs (its workers may be inside a call that hangs):
    // make it a function-local `static BoundedWorkers &w = *new BoundedWorkers(...)`.
    ~BoundedWorkers() = delete;
    BoundedWorkers(const BoundedWorkers &) = delete;
    BoundedWorkers &operator=(const BoundedWorkers &) = delete;

    // Runs `job` on a worker and waits until it ends, `deadline` passes or `*abandon` is set.
    // `job` must own everything it touches: it may run after its caller gave up.
    Outcome run(std::function<void()> job, TimePoint deadline,
                const std::atomic<bool> *abandon = nullptr);

    // Worker threads started so far (tests check the bound).
    size_t threads() const;

  private:
    struct Task;
    void work();
    bool start_worker_locked();
    void forget_parent_locked();

    const size_t max_threads_;
    const size_t max_queued_;
    mutable std::mutex mutex_;
    std::condition_variable queued_;  // a task was queued
    std::condition_variable ended_;   // a task ended
    std::deque<std::shared_ptr<Task>> queue_;
    size_t threads_ = 0;
    size_t idle_ = 0;
    int pid_;  // the process that started the workers (a forked child has none of them)
};

}  // namespace connpool
