// Acquiring without blocking: requests signalled through an eventfd.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <spdlog/logger.h>

#include "core/fine_clock.hpp"
#include "core/pool.hpp"
#include "core/pool_internal.hpp"

namespace connpool {

using detail::count;

// ----- asynchronous acquire -----------------------------------------------------------------

AsyncAcquire::AsyncAcquire(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {
    waiter_.async = this;
    waiter_.wants_handoff = true;  // nothing would wake it when an overtaking window ends
}

AsyncAcquire::~AsyncAcquire() {
    if (event_fd_ >= 0) ::close(event_fd_);
}

int AsyncAcquire::fd() {
    {
        std::lock_guard<std::mutex> lock(pool_->mutex_);
        if (event_fd_ >= 0) return event_fd_;
    }
    // Created outside the lock (a syscall); the first thread to publish it wins.
    const int created = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (created < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    std::lock_guard<std::mutex> lock(pool_->mutex_);
    if (event_fd_ >= 0) {
        ::close(created);
    } else {
        event_fd_ = created;
        if (signaled_) signal();  // finished before anyone asked for the fd
    }
    return event_fd_;
}

void AsyncAcquire::signal() {
    signaled_ = true;
    if (event_fd_ < 0) return;
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(event_fd_, &one, sizeof one);
}

void AsyncAcquire::unsignal() {
    signaled_ = false;
    if (event_fd_ < 0) return;
    uint64_t value = 0;
    [[maybe_unused]] const ssize_t n = ::read(event_fd_, &value, sizeof value);
}

void Pool::start_async(AsyncAcquire &request, int64_t timeout_ms) {
    if (timeout_ms < 0) timeout_ms = options_.acquire_timeout_ms;
    request.start_ = Clock::now();
    request.start_ticks_ = fine_ticks();
    request.deadline_ = deadline_after(timeout_ms);
    request.timeout_ms_ = timeout_ms;
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) {
        close_out_async_locked(request);
        return;
    }
    if (may_take_idle_locked()) {
        request.waiter_.slot = take_idle_locked();
        request.status_ = CONNPOOL_OK;
        request.signal();
        return;
    }
    Error refusal;
    const connpool_status refused = refuse_wait_locked(timeout_ms, request.start_, &refusal);
    if (refused != CONNPOOL_OK) {
        finish_async_locked(request, refused, std::move(refusal));
        return;
    }
    ++requests_queued_;
    waiters_.push_back(request.waiter_);
    schedule_opens_locked(request.start_);
    if (timeout_ms == 0) {
        unlink_waiter_locked(request.waiter_);
        time_out_async_locked(request);
        return;
    }
    // The maintenance thread enforces deadlines: wake it if this one comes first.
    if (request.deadline_ < maintenance_wake_) maintenance_cv_.notify_one();
}

void Pool::time_out_async_locked(AsyncAcquire &request) {
    count(counters_.acquire_timeouts);
    note_error_locked();
    if (paused_) {  // Run-time operations
        finish_async_locked(request, CONNPOOL_ERR_TIMEOUT,
                            paused_timeout_locked(request.timeout_ms_));
        return;
    }
    Error failed = wait_failed_locked(request.timeout_ms_, "a connection");
    const connpool_status status = failed.status;
    finish_async_locked(request, status, std::move(failed));
}

void Pool::close_out_async_locked(AsyncAcquire &request) {
    finish_async_locked(
        request, CONNPOOL_ERR_POOL_CLOSED,
        Error(CONNPOOL_ERR_POOL_CLOSED, "pool \"" + options_.name + "\" is closed"));
}

void Pool::expire_async_waiters_locked(TimePoint now) {
    if (waiters_.async_size() == 0) return;
    for (Waiter *w = waiters_.head(), *next; w != nullptr; w = next) {
        next = w->next;
        if (w->async == nullptr || w->async->deadline_ > now) continue;
        unlink_waiter_locked(*w);
        time_out_async_locked(*w->async);
    }
}

connpool_status Pool::collect_async(AsyncAcquire &request, Slot *&out, Error *error) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        if (request.collected_) {
            if (error)
                *error = Error(CONNPOOL_ERR_INVALID_ARGUMENT,
                               "connpool_acquire_result: the lease was already collected");
            return CONNPOOL_ERR_INVALID_ARGUMENT;
        }
        if (request.status_ != CONNPOOL_OK || request.collecting_) {
            // IN_PROGRESS also while another thread is validating the grant.
            if (error && request.status_ != CONNPOOL_ERR_IN_PROGRESS && !request.collecting_) {
                *error = request.error_;
            }
            return request.collecting_ ? CONNPOOL_ERR_IN_PROGRESS : request.status_;
        }
        Slot *slot = request.waiter_.slot;  // granted; from here on ours, not cancel()'s
        request.waiter_.slot = nullptr;
        request.collecting_ = true;
        link_leased_locked(slot, request.start_);
        lock.unlock();
        const TimePoint now = Clock::now();
        const bool fit =
            hand_out(*slot, request.start_ticks_, now, request.deadline_, request.timeout_ms_);
        lock.lock();
        request.collecting_ = false;
        if (fit) {
            request.collected_ = true;  // a cancel that raced this has nothing left to cancel
            out = slot;
            return CONNPOOL_OK;
        }
        Slot *dead = reject_handout_locked(slot, now);
        regrant_async_locked(request);
        lock.unlock();
        delete dead;
        lock.lock();
    }
}

// The connection granted to `request` was dead: the request is pending again (first in line),
// unless it was cancelled meanwhile, the pool closed or its deadline passed.
void Pool::regrant_async_locked(AsyncAcquire &request) {
    const TimePoint now = Clock::now();
    request.status_ = CONNPOOL_ERR_IN_PROGRESS;
    request.unsignal();
    if (request.cancel_requested_) {
        count(counters_.canceled);
        finish_async_locked(request, CONNPOOL_ERR_CANCELED,
                            Error(CONNPOOL_ERR_CANCELED, "the acquire was cancelled"));
    } else if (closed_) {
        close_out_async_locked(request);
    } else if (now >= request.deadline_) {
        time_out_async_locked(request);
    } else if (may_take_idle_locked()) {
        request.waiter_.slot = take_idle_locked();  // another idle one: try it at once
        request.status_ = CONNPOOL_OK;
        request.signal();
    } else {
        waiters_.push_front(request.waiter_);
        schedule_opens_locked(now);
        // Its deadline is enforced by the maintenance thread: wake it if this one is first.
        if (request.deadline_ < maintenance_wake_) maintenance_cv_.notify_one();
    }
}

void Pool::cancel_async(AsyncAcquire &request) {
    Slot *to_close = nullptr;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (request.status_ == CONNPOOL_ERR_IN_PROGRESS) {
            unlink_waiter_locked(request.waiter_);
            count(counters_.canceled);
        } else if (request.status_ == CONNPOOL_OK && request.waiter_.slot != nullptr) {
            // Granted but never collected: give it to the next waiter or back to idle (it was
            // not used: its idle time keeps counting for pre-ping).
            to_close = return_to_pool_locked(request.waiter_.slot, Clock::now(), false);
            request.waiter_.slot = nullptr;
        } else if (request.collecting_) {
            request.cancel_requested_ = true;  // honoured if the grant turns out dead
            return;
        } else {
            return;  // already finished, or collected
        }
        finish_async_locked(request, CONNPOOL_ERR_CANCELED,
                            Error(CONNPOOL_ERR_CANCELED, "the acquire was cancelled"));
        if (to_close != nullptr) schedule_opens_locked(Clock::now());
    }
    delete to_close;
}

}  // namespace connpool
