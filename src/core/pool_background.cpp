// The pool's threads: workers (connect, reset) and the maintenance loop.
#include <algorithm>
#include <new>

#include <spdlog/logger.h>

#include "core/pool.hpp"
#include "core/pool_internal.hpp"

namespace connpool {

using detail::count;
using detail::random_fraction;

namespace {

// A pool thread whose body failed (most likely an allocation) tries again after this pause:
// memory is usually short for a moment, and the pool must outlive that, not std::terminate.
constexpr auto kThreadRetryPause = std::chrono::milliseconds(50);

// Sets `out` to `text` + `detail`; if even that cannot be allocated, `out` is left empty.
void assign_nothrow(std::string &out, const char *text, const char *detail = "") noexcept {
    try {
        out = text;
        out += detail;
    } catch (...) {
        out.clear();
    }
}

// The connect error callers are told about, allocated before taking the lock (nothing
// allocates under it); null if that allocation failed.
std::shared_ptr<const std::string> shared_error_nothrow(const std::string &message) noexcept {
    try {
        return std::make_shared<const std::string>(message);
    } catch (...) {
        return nullptr;
    }
}

}  // namespace

// ----- thread bodies ------------------------------------------------------------------------

// Runs `body` (worker_loop or maintenance_loop) until it returns, which it does when the pool
// stops. An exception escaping it is counted (alloc_failures for std::bad_alloc), logged, and
// the body starts again after a short pause: the state it left is consistent because every
// step that can throw does so before it changes the pool (see run_open, sweep_idle).
void Pool::run_guarded(void (Pool::*body)(), std::condition_variable &wake) {
    for (;;) {
        try {
            (this->*body)();
            return;
        } catch (const std::bad_alloc &) {
            count(counters_.alloc_failures);
            log_->error("out of memory in a pool thread; retrying in {} ms",
                        kThreadRetryPause.count());
        } catch (const std::exception &e) {
            log_->error("unexpected error in a pool thread (retrying in {} ms): {}",
                        kThreadRetryPause.count(), e.what());
        }
        std::unique_lock<std::mutex> lock(mutex_);
        if (wake.wait_for(lock, kThreadRetryPause,
                          [this] { return stopping_.load(std::memory_order_relaxed); })) {
            return;
        }
    }
}

// looks_alive for a pool step that must not throw: a connection that could not be checked
// (the check failed to allocate, say) counts as not alive, so it is closed and replaced
// rather than trusted unchecked.
bool Pool::alive_nothrow(Slot &slot) noexcept {
    try {
        return connector_->looks_alive(*slot.connection);
    } catch (const std::bad_alloc &) {
        count(counters_.alloc_failures);
    } catch (...) {
    }
    return false;
}

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
        } else if (backing_off_locked(Clock::now())) {
            // A connect failed since these were requested: drop them; the maintenance thread
            // asks again when the backoff ends. So an outage costs at most
            // max_concurrent_connects attempts per backoff step, whatever the demand.
            opening_ -= open_requests_;
            open_requests_ = 0;
            maintenance_cv_.notify_one();
            continue;  // still locked
        } else {
            --open_requests_;
            lock.unlock();
            run_open();
        }
        lock.lock();
    }
}

// A connect that cannot throw: an exception (allocation failure above all) is a failed
// connect, described in `failure`. Records the connect time of a success.
std::unique_ptr<Connection> Pool::connect_nothrow(ConnectFailure &failure) noexcept {
    const TimePoint connect_start = Clock::now();
    try {
        std::unique_ptr<Connection> connection = connector_->connect(
            deadline_from(connect_start, options_.connect_timeout_ms), stopping_, failure);
        if (connection) {
            connect_histogram_.record(
                std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - connect_start)
                    .count());
        }
        return connection;
    } catch (const std::bad_alloc &) {
        count(counters_.alloc_failures);  // a failed connect: backs off and retries
        assign_nothrow(failure.message, "out of memory while connecting");
    } catch (const std::exception &e) {
        assign_nothrow(failure.message, "unexpected error while connecting: ", e.what());
    }
    return nullptr;
}

// The pool's slot for a new connection; null (with `failure` saying why) if it cannot be
// allocated, the connection then closed.
Slot *Pool::register_nothrow(std::unique_ptr<Connection> connection, uint64_t drain_epoch,
                             ConnectFailure &failure) noexcept {
    Slot *slot = nullptr;
    try {
        slot = new Slot(*this, std::move(connection), lifetime_deadline(Clock::now()));
        slot->budget = budget_.get();  // the permit now goes back when the slot closes
        // Run-time operations: its id, backend pid and drain epoch.
        note_identity(*slot, drain_epoch);
    } catch (const std::bad_alloc &) {
        count(counters_.alloc_failures);
        if (slot == nullptr) {
            assign_nothrow(failure.message, "out of memory while registering a new connection");
        }
    } catch (const std::exception &) {
        // note_identity: the connection is kept without its id or backend pid.
    }
    return slot;
}

void Pool::run_open() {
    if (!take_connect_permit()) return;
    // Run-time operations: a drain during the connect retires this connection after its use.
    const uint64_t drain_epoch = drain_epoch_.load(std::memory_order_relaxed);
    ConnectFailure failure;
    std::unique_ptr<Connection> connection = connect_nothrow(failure);
    Slot *slot = nullptr;
    if (connection) slot = register_nothrow(std::move(connection), drain_epoch, failure);
    // Allocated before locking: nothing may allocate (or throw) under the lock below.
    std::shared_ptr<const std::string> error_text;
    if (slot == nullptr) error_text = shared_error_nothrow(failure.message);
    Slot *to_close = nullptr;
    int64_t backoff_ms = 0;
    bool breaker_opened = false, breaker_closed = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const TimePoint now = Clock::now();
        --opening_;
        if (slot == nullptr && closed_) {
            // Abandoned because the pool is closing: not a failure of the server.
        } else if (slot == nullptr) {
            count(counters_.connect_errors);
            note_error_locked();
            if (error_text) last_connect_error_.swap(error_text);  // the old one freed unlocked
            last_connect_sqlstate_ = failure.sqlstate;
            const ConnectPolicy::FailureOutcome outcome =
                connect_policy_.on_failure(now, failure.permanent, random_fraction());
            backoff_ms = outcome.backoff_ms;
            breaker_opened = outcome.breaker_opened;
            if (breaker_opened) {
                count(counters_.breaker_opens);
                fail_waiters_fast_locked();
            }
        } else if (closed_) {
            to_close = slot;
        } else {
            count(counters_.created);
            breaker_closed = connect_policy_.on_success();
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
        if (breaker_opened) {
            log_->error(
                "circuit breaker opened: acquires fail fast with "
                "CONNPOOL_ERR_DATABASE_UNAVAILABLE until a connect succeeds");
        }
    } else if (slot != nullptr) {
        log_->debug("opened a connection");
        if (breaker_closed) log_->warn("database reachable again: circuit breaker closed");
    }
    delete to_close;
    if (slot == nullptr && budget_) {
        connection.reset();
        budget_->give_back();
    }
}

bool Pool::take_connect_permit() {
    if (!budget_) return true;
    uint64_t signals = 0;
    bool acquirers_wait = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        signals = budget_signals_;
        acquirers_wait = waiters_.size() > 0;
    }
    // Only acquirers waiting justify closing another pool's idle connection: topping up
    // min_size by taking from each other would have pools trading connections forever.
    bool granted = false;
    try {
        granted = budget_->take(*this, acquirers_wait);
    } catch (const std::bad_alloc &) {
        count(counters_.alloc_failures);  // refused for now: retried like any refusal
    }
    budget_short_.store(!granted, std::memory_order_relaxed);
    if (granted) return true;
    std::lock_guard<std::mutex> lock(mutex_);
    const TimePoint now = Clock::now();
    --opening_;
    // A permit freed after the refusal (its notice counted in budget_signals_) means try again.
    if (budget_signals_ == signals) {
        budget_blocked_ = true;
        budget_retry_at_ = now + kBudgetRetry;
        if (waiters_.size() > 0) maintenance_cv_.notify_one();  // it schedules the retry
    }
    schedule_opens_locked(now);
    return false;
}

bool Pool::give_up_idle_connection() {
    Slot *slot = nullptr;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        // Idle connections with acquirers waiting are theirs (overtaking window).
        if (closed_ || idle_.empty() || waiters_.size() > 0) return false;
        slot = idle_.front();  // the bottom of the LIFO stack: idle the longest
        idle_.erase(idle_.begin());
        discard_locked(slot, nullptr);
    }
    slot->budget = nullptr;  // its permit passes to the pool that asked
    delete slot;
    log_->debug("closed an idle connection for another pool (connection budget spent)");
    return true;
}

void Pool::budget_permit_freed() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++budget_signals_;
    if (!budget_blocked_) return;
    budget_blocked_ = false;
    schedule_opens_locked(Clock::now());
}

void Pool::run_reset(Slot *slot) {
    bool ok = false;
    try {
        ok = connector_->reset(*slot->connection, deadline_after(options_.health_check_timeout_ms));
    } catch (const std::bad_alloc &) {
        count(counters_.alloc_failures);  // its state is unknown: closed below
    } catch (const std::exception &) {
        ok = false;
    }
    count(counters_.resets);
    if (!ok) count(counters_.reset_failures);
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
        const TimePoint wake = next_maintenance_locked();
        maintenance_wake_ = wake;
        if (!sweep_requested_) maintenance_cv_.wait_until(lock, wake);
        if (stopping_.load(std::memory_order_relaxed)) break;
        const TimePoint now = Clock::now();
        expire_async_waiters_locked(now);
        if (sweep_requested_) sweep_idle(lock);
        if (options_.leak_threshold_ms > 0) report_leaks(lock, now);
        evict_idle_locked(now, evicted);
        if (options_.keepalive_interval_ms > 0) keepalive_idle(lock);
        if (budget_blocked_ && waiters_.size() > 0 && now >= budget_retry_at_) {
            budget_blocked_ = false;  // ask the budget again: see take_connect_permit
        }
        schedule_opens_locked(now);
        if (evicted.empty()) continue;
        lock.unlock();
        log_->debug("maintenance closed {} idle or expired connection(s)", evicted.size());
        for (Slot *slot : evicted) delete slot;
        evicted.clear();
        lock.lock();
    }
}

// When the maintenance thread must wake next: its interval, the end of a connect backoff, an
// asynchronous waiter's deadline or a lease crossing leak_threshold, whichever comes first.
TimePoint Pool::next_maintenance_locked() const {
    TimePoint wake = Clock::now() + Millis(options_.maintenance_interval_ms);
    if (connect_retry_at_locked() > Clock::now()) wake = std::min(wake, connect_retry_at_locked());
    if (waiters_.async_size() > 0) {
        for (Waiter *w = waiters_.head(); w != nullptr; w = w->next) {
            if (w->async != nullptr) wake = std::min(wake, w->async->deadline_);
        }
    }
    if (budget_blocked_ && waiters_.size() > 0) wake = std::min(wake, budget_retry_at_);
    if (options_.leak_threshold_ms > 0) {
        // Scan at least every leak_threshold (a new lease does not wake this thread: that would
        // put a syscall on the hot path), so a leak is reported within 2x the threshold; sooner
        // when a known lease crosses it.
        const Millis threshold(options_.leak_threshold_ms);
        wake = std::min({wake, Clock::now() + threshold, leases_.next_due(threshold)});
    }
    return wake;
}

// Takes expired connections, and those idle longer than max_idle beyond min_size, off the idle
// stack into `evicted` (for the caller to close unlocked), oldest-idle first (the front of the
// LIFO stack has been idle longest).
void Pool::evict_idle_locked(TimePoint now, std::vector<Slot *> &evicted) {
    // min_idle and target_utilisation keep what they ask for; the rest idles out.
    const int64_t floor = std::max(min_size_, sizing_target_locked());
    // Room for every idle connection first: a push_back that failed half-way through the
    // remove_if would lose a connection already discarded.
    evicted.reserve(evicted.size() + idle_.size());
    auto keep = std::remove_if(idle_.begin(), idle_.end(), [&](Slot *slot) {
        if (now >= slot->expires_at) {
            evicted.push_back(discard_locked(slot, &counters_.closed_lifetime));
            return true;
        }
        if (options_.max_idle_ms > 0 && total_ > floor &&
            now - slot->idle_since >= Millis(options_.max_idle_ms)) {
            evicted.push_back(discard_locked(slot, &counters_.closed_idle));
            return true;
        }
        return false;
    });
    idle_.erase(keep, idle_.end());
}

// Checks every idle connection cheaply (no round trip) after one was found dead. They are
// taken out while checked (counted as in use), so the gauges stay consistent.
void Pool::sweep_idle(std::unique_lock<std::mutex> &lock) {
    // Everything allocated before a connection leaves idle_: if an allocation fails, the
    // sweep is retried (run_guarded) with nothing lost.
    std::vector<Slot *> checking(idle_.begin(), idle_.end());
    std::vector<Slot *> dead, to_close;
    dead.reserve(checking.size());
    to_close.reserve(checking.size());
    sweep_requested_ = false;
    ++sweep_epoch_;
    count(counters_.sweeps);
    idle_.clear();  // keeps its reserved capacity
    lock.unlock();
    for (Slot *&slot : checking) {
        if (!alive_nothrow(*slot)) {
            dead.push_back(slot);  // within the capacity reserved
            slot = nullptr;
        }
    }
    lock.lock();
    const TimePoint now = Clock::now();
    for (Slot *slot : dead) to_close.push_back(discard_locked(slot, &counters_.closed_broken));
    for (Slot *slot : checking) {
        if (slot == nullptr) continue;
        if (Slot *gone = return_to_pool_locked(slot, now, false)) to_close.push_back(gone);
    }
    schedule_opens_locked(now);
    if (to_close.empty()) return;
    lock.unlock();
    log_->info("sweep after a dead connection: closed {} more idle connection(s)", to_close.size());
    for (Slot *slot : to_close) delete slot;
    lock.lock();
}

// Reports each lease held longer than leak_threshold once.
void Pool::report_leaks(std::unique_lock<std::mutex> &lock, TimePoint now) {
    const std::vector<LeakTracker::Leak> leaks =
        leases_.take_new_leaks(now, Millis(options_.leak_threshold_ms));
    if (leaks.empty()) return;
    count(counters_.leaks_detected, static_cast<int64_t>(leaks.size()));
    lock.unlock();
    for (const auto &[held_ms, label] : leaks) {
        log_->warn(
            "possible leak: a lease{} has been held for {} ms (leak_threshold {} ms); "
            "release leases when done",
            label.empty() ? "" : " labelled \"" + label + "\"", held_ms,
            options_.leak_threshold_ms);
    }
    lock.lock();
}

}  // namespace connpool
