// The pool's threads: workers (connect, reset) and the maintenance loop.
#include <algorithm>

#include <spdlog/logger.h>

#include "pool.hpp"
#include "pool_internal.hpp"

namespace connpool {

using detail::count;
using detail::random_fraction;

// ----- background work ----------------------------------------------------------------------

void Pool::worker_loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        work_cv_.wait(lock, [this] {
            return stopping_.load(std::memory_order_relaxed) || reset_head_ != nullptr ||
                   open_requests_ > 0;
        });
        if (stopping_.load(std::memory_order_relaxed)) return;  // close() drains the queues
        if (Slot *slot = reset_head_) {  // a returned connection first: someone may be waiting
            reset_head_ = slot->next_reset;
            if (reset_head_ == nullptr) reset_tail_ = nullptr;
            slot->next_reset = nullptr;
            lock.unlock();
            run_reset(slot);
        } else {
            --open_requests_;
            lock.unlock();
            run_open();
        }
        lock.lock();
    }
}

void Pool::run_open() {
    ConnectFailure failure;
    std::unique_ptr<Connection> connection;
    try {
        connection = connector_->connect(deadline_after(options_.connect_timeout_ms), stopping_,
                                         failure);
    } catch (const std::exception &e) {
        failure.message = std::string("unexpected error while connecting: ") + e.what();
    }
    Slot *slot = nullptr;
    if (connection) {
        try {
            slot = new Slot(*this, std::move(connection), lifetime_deadline(Clock::now()));
        } catch (const std::bad_alloc &) {
            failure.message = "out of memory while registering a new connection";
        }
    }
    Slot *to_close = nullptr;
    int64_t backoff_ms = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const TimePoint now = Clock::now();
        --opening_;
        if (slot == nullptr) {
            count(counters_.connect_errors);
            last_connect_error_ = std::make_shared<const std::string>(failure.message);
            backoff_ms_ = backoff_ms_ == 0 ? detail::kFirstBackoffMs : std::min(backoff_ms_ * 2, detail::kMaxBackoffMs);
            // +-20% jitter so that many pools do not retry in lockstep.
            backoff_ms = static_cast<int64_t>(static_cast<double>(backoff_ms_) *
                                              (0.8 + 0.4 * random_fraction()));
            backoff_until_ = now + Millis(backoff_ms);
        } else if (closed_) {
            to_close = slot;
        } else {
            count(counters_.created);
            backoff_ms_ = 0;
            backoff_until_ = {};
            last_connect_error_.reset();
            ++total_;
            ready_cv_.notify_all();
            to_close = return_to_pool_locked(slot, now);
        }
        schedule_opens_locked(now);
    }
    if (slot == nullptr && !stopping_.load()) {
        log_->warn("could not open a connection (retrying in {} ms while needed): {}", backoff_ms,
                   failure.message);
    } else if (slot != nullptr) {
        log_->debug("opened a connection");
    }
    delete to_close;
}

void Pool::run_reset(Slot *slot) {
    bool ok = false;
    try {
        ok = connector_->reset(*slot->connection,
                               deadline_after(options_.health_check_timeout_ms));
    } catch (const std::exception &) {
        ok = false;
    }
    count(counters_.resets);
    Slot *to_close = nullptr;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const TimePoint now = Clock::now();
        --resetting_;
        if (!ok) {
            to_close = discard_locked(slot, &counters_.closed_broken);
        } else if (closed_) {
            to_close = discard_locked(slot, nullptr);
        } else {
            to_close = return_to_pool_locked(slot, now);
        }
        schedule_opens_locked(now);
    }
    if (!ok) log_->info("could not roll back/reset a returned connection; closed it");
    delete to_close;
}

void Pool::maintenance_loop() {
    std::vector<Slot *> evicted;
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_.load(std::memory_order_relaxed)) {
        TimePoint wake = Clock::now() + Millis(options_.maintenance_interval_ms);
        if (backoff_until_ > Clock::now()) wake = std::min(wake, backoff_until_);
        if (async_waiting_ > 0) {
            for (Waiter *w = waiters_head_; w != nullptr; w = w->next) {
                if (w->async != nullptr) wake = std::min(wake, w->async->deadline_);
            }
        }
        maintenance_wake_ = wake;
        maintenance_cv_.wait_until(lock, wake);
        if (stopping_.load(std::memory_order_relaxed)) break;
        const TimePoint now = Clock::now();
        expire_async_waiters_locked(now);
        // Oldest-idle first (the front of the LIFO stack has been idle longest).
        auto keep = std::remove_if(idle_.begin(), idle_.end(), [&](Slot *slot) {
            if (now >= slot->expires_at) {
                evicted.push_back(discard_locked(slot, &counters_.closed_lifetime));
                return true;
            }
            if (options_.max_idle_ms > 0 && total_ > options_.min_size &&
                now - slot->idle_since >= Millis(options_.max_idle_ms)) {
                evicted.push_back(discard_locked(slot, &counters_.closed_idle));
                return true;
            }
            return false;
        });
        idle_.erase(keep, idle_.end());
        schedule_opens_locked(now);
        if (evicted.empty()) continue;
        lock.unlock();
        log_->debug("maintenance closed {} idle or expired connection(s)", evicted.size());
        for (Slot *slot : evicted) delete slot;
        evicted.clear();
        lock.lock();
    }
}

}  // namespace connpool
