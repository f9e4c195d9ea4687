#include "core/pool.hpp"

#include <algorithm>

#include <spdlog/logger.h>

#include "core/fine_clock.hpp"
#include "core/fork_guard.hpp"
#include "core/log.hpp"
#include "core/pool_internal.hpp"
#include "core/stats_json.hpp"

namespace connpool {
namespace {

// The statistics read from the latency histograms.
void fill_latency_stats(PoolStats &s, const HistogramSnapshot &wait,
                        const HistogramSnapshot &hold) {
    s.acquire_wait_us_total = wait.sum_ns / 1000;
    s.acquire_wait_us_max = wait.max_ns / 1000;
    s.acquire_wait_p50_ns = wait.percentile_ns(0.50);
    s.acquire_wait_p90_ns = wait.percentile_ns(0.90);
    s.acquire_wait_p99_ns = wait.percentile_ns(0.99);
    s.acquire_wait_p999_ns = wait.percentile_ns(0.999);
    s.usage_ms = hold.sum_ns / 1'000'000;
    s.lease_hold_p50_ns = hold.percentile_ns(0.50);
    s.lease_hold_p90_ns = hold.percentile_ns(0.90);
    s.lease_hold_p99_ns = hold.percentile_ns(0.99);
    s.lease_hold_p999_ns = hold.percentile_ns(0.999);
}

std::atomic<uint64_t (*)()> attach_tag{nullptr};
std::atomic<void (*)(uint64_t)> detach_tag{nullptr};

uint64_t attach_slot_tag() {
    uint64_t (*attach)() = attach_tag.load(std::memory_order_acquire);
    return attach != nullptr ? attach() : 0;
}
}  // namespace

void install_slot_tag_hooks(SlotTagHooks hooks) {
    detach_tag.store(hooks.detach, std::memory_order_release);
    attach_tag.store(hooks.attach, std::memory_order_release);
}

using detail::count;
using detail::random_fraction;

Slot::Slot(Pool &owner, std::unique_ptr<Connection> c, TimePoint expires)
    : pool(owner),
      connection(std::move(c)),
      created_at(Clock::now()),
      expires_at(expires),
      idle_since(created_at),
      tag(attach_slot_tag()) {}

Slot::~Slot() {
    if (budget != nullptr) {
        connection.reset();  // closed first: the permit covers it until then
        budget->give_back();
    }
    void (*detach)(uint64_t) = detach_tag.load(std::memory_order_acquire);
    if (detach != nullptr) detach(tag);
}

std::shared_ptr<Pool> Pool::create(PoolOptions options, std::unique_ptr<Connector> connector,
                                   std::shared_ptr<ConnectionBudget> budget) {
    std::shared_ptr<Pool> pool(
        new Pool(std::move(options), std::move(connector), std::move(budget)), &Pool::orphan);
    pool->start();
    return pool;
}

void Pool::orphan(Pool *pool) {
    pool->close();
    bool free_now;
    {
        std::lock_guard<std::mutex> lock(pool->mutex_);
        pool->orphaned_ = true;
        free_now = pool->holds_ == 0;
    }
    if (free_now) delete pool;  // otherwise the release of the last lease does it
}

bool Pool::drop_hold_locked() {
    return --holds_ == 0 && orphaned_;
}

Pool::Pool(PoolOptions options, std::unique_ptr<Connector> connector,
           std::shared_ptr<ConnectionBudget> budget)
    : options_(std::move(options)),
      connector_(std::move(connector)),
      log_(make_pool_logger(options_.name, options_.log_level)),
      budget_(std::move(budget)),
      // Sizing policies
      fifo_(options_.idle_order == "fifo"),
      affinity_(options_.thread_affinity),
      grows_with_load_(options_.min_idle > 0 || options_.target_utilisation > 0),
      connect_policy_(options_.breaker_threshold),
      recent_errors_(options_.health_error_window_ms),
      fork_generation_((install_fork_guard(), fork_generation())),
      ns_per_tick_(fine_ns_per_tick()),
      min_size_(options_.min_size),  // Run-time operations
      max_size_(options_.max_size) {
    // Reserve once so that returning a connection to the idle stack never allocates.
    idle_.reserve(static_cast<size_t>(options_.max_size + options_.max_overflow));
}

void Pool::start() {
    if (budget_) budget_->join(*this);
    for (int64_t i = 0; i < options_.max_concurrent_connects; ++i) {
        workers_.emplace_back([this] { run_guarded(&Pool::worker_loop, work_cv_); });
    }
    maintenance_ = std::thread([this] { run_guarded(&Pool::maintenance_loop, maintenance_cv_); });
    std::lock_guard<std::mutex> lock(mutex_);
    schedule_opens_locked(Clock::now());
}

bool Pool::forked() const {
    return fork_generation() != fork_generation_;
}

Pool::~Pool() {
    close();
    for (Slot *slot : idle_) delete slot;  // none: close() emptied it; kept for safety
}

// ----- waiters ------------------------------------------------------------------------------

void Pool::unlink_waiter_locked(Waiter &waiter) {
    if (!waiter.linked) return;  // idempotent: a cancel may follow any outcome
    const bool was_head = waiters_.head() == &waiter;
    waiters_.remove(waiter);
    if (was_head) serve_idle_to_head_locked();
}

// Connections released during the old head's overtaking window may sit idle while the new
// head waits for hand-off: give them to it now.
void Pool::serve_idle_to_head_locked() {
    if (paused_) return;  // Run-time operations: resume serves them
    while (!idle_.empty() && waiters_.head_wants_handoff()) {
        Waiter &head = *waiters_.head();
        waiters_.remove(head);
        grant_locked(head, take_idle_locked(), coarse_now());
    }
}

void Pool::grant_locked(Waiter &waiter, Slot *slot, TimePoint now, const void **wake_later) {
    waiter.slot = slot;
    if (waiter.async == nullptr) link_leased_locked(slot, now);  // async: when collected
    wake_locked(waiter, wake_later);
}

// Tells a waiter that `waiter.slot` is set (or that it was refused, or the pool closed).
void Pool::wake_locked(Waiter &waiter, const void **wake_later) {
    if (waiter.async != nullptr) {
        waiter.async->status_ = CONNPOOL_OK;
        waiter.async->signal();
        return;
    }
    // A blocking waiter may return as soon as the flag is set: nothing of it is touched after.
    const void *sleeper = waiter.wake.set();
    if (wake_later != nullptr) {
        *wake_later = sleeper;
    } else {
        WakeFlag::wake(sleeper);
    }
}

void Pool::finish_async_locked(AsyncAcquire &request, connpool_status status, Error error) {
    request.status_ = status;
    request.error_ = std::move(error);
    request.signal();
}

// Why a wait ended without a connection: a busy pool, or a server we cannot connect to.
Error Pool::wait_failed_locked(int64_t timeout_ms, const char *what) const {
    // If the latest connect attempt failed, that (not a busy pool) is the story. (The blocking
    // acquire repeats this choice so that it need not build the message nobody asked for.)
    const connpool_status status =
        last_connect_error_ ? CONNPOOL_ERR_CONNECT_FAILED : CONNPOOL_ERR_TIMEOUT;
    return Error(status,
                 "timed out after " + std::to_string(timeout_ms) + " ms waiting for " + what +
                     " (" + describe_state_locked() + ")" +
                     (last_connect_error_ ? "; fix the server address or credentials"
                                          : "; raise max_size or the timeout, or release "
                                            "leases sooner"),
                 last_connect_error_ ? last_connect_sqlstate_ : std::string());
}

// ----- where a connection goes --------------------------------------------------------------

// Hands `slot` to the oldest waiter, or keeps it idle. Returns it instead when it must be
// closed (expired, or an overflow connection nobody waits for); the caller closes it unlocked.
Slot *Pool::return_to_pool_locked(Slot *slot, TimePoint now, bool used, bool overtakable,
                                  const void **wake_later) {
    if (used) slot->idle_since = now;
    if (closed_) return discard_locked(slot, nullptr);
    if (now >= slot->expires_at) return discard_locked(slot, &counters_.closed_lifetime);
    // Run-time operations: retired by a drain, or above a lowered max_size; none handed out
    // while paused.
    if (drained_locked(*slot)) return discard_locked(slot, &counters_.closed_drained);
    if (total_ > max_size_ + options_.max_overflow) {
        return discard_locked(slot, &counters_.closed_overflow);
    }
    Waiter *oldest = paused_ ? nullptr : waiters_.head();
    // A lease returned within the oldest waiter's overtaking window goes idle (the waiter takes
    // one when its window ends); new, reset or unused connections and overflow ones (which
    // would otherwise be closed) are handed over at once.
    if (oldest != nullptr && (!overtakable || oldest->wants_handoff || total_ > max_size_)) {
        unlink_waiter_locked(*oldest);
        grant_locked(*oldest, slot, now, wake_later);
        return nullptr;
    }
    if (total_ > max_size_) return discard_locked(slot, &counters_.closed_overflow);
    idle_.push_back(slot);
    return nullptr;
}

Slot *Pool::discard_locked(Slot *slot, std::atomic<int64_t> *reason) {
    --total_;
    if (reason != nullptr) count(*reason);
    if (reason == &counters_.closed_broken) note_error_locked();
    count(counters_.closed);
    return slot;
}

// Requests connects for the demand not yet covered: waiters beyond the connections already
// coming (being opened or reset), and the gap to min_size; never beyond max_size+max_overflow.
void Pool::schedule_opens_locked(TimePoint now) {
    if (closed_) return;
    const int64_t coming = total_ + opening_;
    // Idle connections are there for waiters still in their overtaking window.
    const int64_t covered = opening_ + resetting_ + static_cast<int64_t>(idle_.size());
    // While paused, waiters get nothing: connections opened for them would only sit idle.
    const int64_t waiting = paused_ ? 0 : waiters_.size();
    int64_t want = std::max(min_size_ - coming, waiting - covered);
    want = std::max(want, sizing_target_locked() - coming);  // Sizing policies
    if (probe_wanted_) want = std::max<int64_t>(want, 1 - opening_);
    want = std::min(want, max_size_ + options_.max_overflow - coming);
    if (want <= 0) return;
    if (budget_blocked_) {
        // Refused by the budget while nobody waited (a min_size top-up): a caller waiting now
        // may take another pool's idle connection, which the maintenance thread asks for at
        // budget_retry_at_. Wake it so that it sees the waiter before its next interval.
        if (waiters_.size() > 0) maintenance_cv_.notify_one();
        return;
    }
    if (backing_off_locked(now)) {
        maintenance_cv_.notify_one();  // it retries when the backoff ends
        return;
    }
    if (!connect_policy_.breaker_closed()) {  // half-open: one probe at a time
        if (opening_ > 0) return;
        want = 1;
        connect_policy_.start_probe();
    } else if (connect_policy_.backing_off(now)) {
        // Sizing policies: an early recovery probe (callers wait), also one at a time.
        if (opening_ > 0) return;
        want = 1;
    }
    probe_wanted_ = false;
    opening_ += want;
    open_requests_ += want;
    if (want == 1) {
        work_cv_.notify_one();
    } else {
        work_cv_.notify_all();
    }
}

TimePoint Pool::lifetime_deadline(TimePoint created) const {
    if (options_.max_lifetime_ms == 0) return TimePoint::max();
    // Up to 5% earlier, so connections opened together do not all expire together.
    const auto jitter = static_cast<int64_t>(static_cast<double>(options_.max_lifetime_ms) * 0.05 *
                                             random_fraction());
    return created + Millis(options_.max_lifetime_ms - jitter);
}

std::string Pool::describe_state_locked() const {
    std::string text = "pool \"" + options_.name +
                       "\": " + std::to_string(total_ - static_cast<int64_t>(idle_.size())) +
                       " in use, " + std::to_string(idle_.size()) + " idle, " +
                       std::to_string(opening_) + " opening, " + std::to_string(waiters_.size()) +
                       " waiting, max_size " + std::to_string(max_size_) + ", max_overflow " +
                       std::to_string(options_.max_overflow);
    if (paused_) text += "; paused";
    if (last_connect_error_) text += "; last connect error: " + *last_connect_error_;
    if (budget_short_.load(std::memory_order_relaxed)) {
        text += "; the process-wide connection budget is spent (" +
                std::to_string(budget_->held()) + " connection(s) open or opening, budget " +
                std::to_string(budget_->limit()) +
                "): raise it with connpool_registry_set_connection_budget";
    }
    return text;
}

// ----- refusing to wait ---------------------------------------------------------------------

connpool_status Pool::refuse_wait_locked(int64_t timeout_ms, TimePoint now, Error *error) {
    // Breaker open and not a single connection that could come back: waiting is pointless.
    if (!connect_policy_.breaker_closed() && total_ == 0) {
        count(counters_.unavailable);
        probe_wanted_ = true;  // keep probing even when only fail-fast callers want connections
        schedule_opens_locked(now);
        if (error) *error = unavailable_error_locked();
        return CONNPOOL_ERR_DATABASE_UNAVAILABLE;
    }
    if (options_.max_waiting > 0 && timeout_ms > 0 && waiters_.size() >= options_.max_waiting) {
        count(counters_.waiters_rejected);
        if (error) {
            *error =
                Error(CONNPOOL_ERR_TOO_MANY_WAITERS,
                      "too many waiters: " + std::to_string(waiters_.size()) +
                          " already wait (max_waiting " + std::to_string(options_.max_waiting) +
                          "); shed load or raise max_waiting/max_size");
        }
        return CONNPOOL_ERR_TOO_MANY_WAITERS;
    }
    return CONNPOOL_OK;
}

Error Pool::unavailable_error_locked() const {
    return Error(
        CONNPOOL_ERR_DATABASE_UNAVAILABLE,
        "database unavailable: " + std::to_string(connect_policy_.consecutive_failures()) +
            " consecutive connect attempt(s) failed, so acquires fail fast (circuit "
            "breaker open; the pool keeps retrying in the background and recovers by "
            "itself)" +
            (last_connect_error_ ? "; last connect error: " + *last_connect_error_ : std::string()),
        last_connect_error_ ? last_connect_sqlstate_ : std::string());
}

// The breaker just opened: waiters that cannot be served by a connection coming back are told
// now instead of each sitting out its timeout.
void Pool::fail_waiters_fast_locked() {
    if (total_ > 0) return;
    for (Waiter *w = waiters_.head(), *next; w != nullptr; w = next) {
        next = w->next;
        unlink_waiter_locked(*w);
        count(counters_.unavailable);
        if (w->async != nullptr) {
            finish_async_locked(*w->async, CONNPOOL_ERR_DATABASE_UNAVAILABLE,
                                unavailable_error_locked());
        } else {
            w->refused = CONNPOOL_ERR_DATABASE_UNAVAILABLE;
            wake_locked(*w);
        }
    }
}

// ----- leases out ---------------------------------------------------------------------------

void Pool::link_leased_locked(Slot *slot, TimePoint now) {
    slot->sweep_epoch = sweep_epoch_;
    ++slot->use_count;  // Run-time operations
    ++holds_;
    ++acquired_;
    if (slot->used) ++reused_;
    leases_.link(*slot, now);
    if (grows_with_load_) [[unlikely]]
        grow_for_load_locked(now);  // Sizing policies
}

// A dead idle connection usually means the server restarted: the other idle ones are likely
// dead too. Have the maintenance thread check them all cheaply, once, instead of letting each
// cost an acquirer a failed validation.
void Pool::note_dead_connection_locked(const Slot &dead) {
    // Taken before the latest sweep began: that sweep has already checked the others.
    if (idle_.empty() || sweep_requested_ || dead.sweep_epoch != sweep_epoch_) return;
    sweep_requested_ = true;
    maintenance_cv_.notify_one();
}

// ----- acquire / release --------------------------------------------------------------------

namespace {
// When an acquire gives up. The fast path (an idle connection at once) reads only the coarse
// clock, which may lag by several ms: fine for timestamps compared in ms, not for a deadline.
// The precise clock is read, and the deadline fixed, when something slow begins: a wait, a
// pre-ping (which sets `deadline` through hand_out) or the replacement of a dead connection.
// Once fixed, the deadline never moves. (Plain locals of acquire_slot rather than a struct
// passed around, so that the fast path keeps them in registers.)
inline void fix_deadline(bool &precise, TimePoint &start, TimePoint &deadline, int64_t timeout_ms) {
    if (precise) return;
    precise = true;
    if (deadline == TimePoint::max()) {
        start = Clock::now();
        deadline = deadline_from(start, timeout_ms);
    } else {
        start = deadline - Millis(timeout_ms);  // hand_out fixed it before a ping
    }
}

}  // namespace

connpool_status Pool::acquire_slot(int64_t timeout_ms, bool try_only, Slot *&out, Error *error) {
    const int64_t start_ticks = fine_ticks();  // the wait histogram counts every acquire
    if (timeout_ms < 0) timeout_ms = options_.acquire_timeout_ms;
    // ~100 years is forever; the cap keeps deadline arithmetic in range for any int64.
    timeout_ms = std::min<int64_t>(timeout_ms, 3'153'600'000'000);
    TimePoint start{}, deadline = TimePoint::max();
    bool precise = false;  // `start` and `deadline` come from the precise clock (fix_deadline)
    std::unique_lock<std::mutex> lock(mutex_);
    for (bool retry = false;; retry = true) {
        if (closed_) return closed_error(error);
        // Replacing dead connections must not stretch the wait past the deadline.
        const bool late = retry && Clock::now() >= deadline;
        Slot *slot = nullptr;
        TimePoint now;
        if (!late && may_take_idle_locked()) {
            slot = take_idle_locked();
            // Thresholds compared with `now` are milliseconds: without a wait, coarse is enough.
            now = precise ? Clock::now() : coarse_now();
            if (!precise) start = now;
            link_leased_locked(slot, now);
            lock.unlock();
        } else if (try_only) {
            return CONNPOOL_ERR_WOULD_BLOCK;
        } else {
            fix_deadline(precise, start, deadline, timeout_ms);
            const connpool_status waited =
                wait_in_line(lock, {start, deadline, timeout_ms, late}, slot, error);
            if (waited != CONNPOOL_OK) return waited;
            now = Clock::now();
        }
        if (hand_out(*slot, start_ticks, now, deadline, timeout_ms)) {
            out = slot;
            return CONNPOOL_OK;
        }
        // Dead or expired: close it and try again within the same deadline.
        fix_deadline(precise, start, deadline, timeout_ms);
        lock.lock();
        Slot *dead = reject_handout_locked(slot, now);
        schedule_opens_locked(now);
        lock.unlock();
        delete dead;
        lock.lock();
    }
}

connpool_status Pool::closed_error(Error *error) const {
    if (error) {
        *error =
            Error(CONNPOOL_ERR_POOL_CLOSED,
                  "pool \"" + options_.name + "\" is closed; create a new pool to get connections");
    }
    return CONNPOOL_ERR_POOL_CLOSED;
}

// No idle connection for the caller: it queues and waits for one, first in its overtaking
// window, then for hand-off (see pool.hpp). OK with `slot` set, or why it got none.
connpool_status Pool::wait_in_line(std::unique_lock<std::mutex> &lock, const WaitTerms &terms,
                                   Slot *&slot, Error *error) {
    const auto [start, deadline, timeout_ms, late] = terms;
    const connpool_status refused = refuse_wait_locked(timeout_ms, start, error);
    if (refused != CONNPOOL_OK) return refused;
    ++requests_queued_;
    Waiter me;
    me.wants_handoff = skips_window_locked();
    me.released_before = released_;
    waiters_.push_back(me);
    schedule_opens_locked(start);
    if (timeout_ms > 0 && !late) {
        sit_out_window(lock, me, deadline);
        if (pending_locked(me)) {
            lock.unlock();
            // Served: whoever set the flag made the slot our lease; no lock needed to take it.
            if (me.wake.wait_until(deadline) && me.slot != nullptr) {
                slot = me.slot;
                return CONNPOOL_OK;
            }
            lock.lock();
        }
    }
    const connpool_status outcome = wait_outcome_locked(me, timeout_ms, error);
    if (outcome == CONNPOOL_OK) {
        slot = me.slot;
        lock.unlock();
    }
    return outcome;
}

// Behind a waiter already asking for hand-off, releases will not go idle, so a window would
// only cost a wake-up; unless connections are held so briefly that hand-offs (a sleep and a
// wake-up each) would be most of a cycle's cost. Every 16th waiter takes a window anyway, to
// keep measuring that (see sit_out_window).
bool Pool::skips_window_locked() {
    const bool behind_handoff = waiters_.head_wants_handoff();
    return options_.overtake_window_us == 0 ||
           (behind_handoff && !brief_holds_ && ++window_skips_ % 16 != 0);
}

// A queued blocking waiter has not been served, refused or closed out yet.
bool Pool::pending_locked(const Waiter &me) const {
    return me.slot == nullptr && me.refused == CONNPOOL_OK && !closed_;
}

// First the overtaking window: releases leave their connection idle... then take one of those,
// or have the next release hand one over.
void Pool::sit_out_window(std::unique_lock<std::mutex> &lock, Waiter &me, TimePoint deadline) {
    if (me.wants_handoff || !pending_locked(me)) return;
    const TimePoint window_end =
        std::min(Clock::now() + std::chrono::microseconds(options_.overtake_window_us), deadline);
    lock.unlock();
    me.wake.wait_until(window_end);
    lock.lock();
    if (!pending_locked(me)) return;
    // Holds are brief if each connection went round many times in the window.
    brief_holds_ =
        released_ - me.released_before >= kBriefHoldCycles * std::max<int64_t>(total_, 1);
    if (!idle_.empty() && !paused_) {
        me.slot = take_idle_locked();               // before unlinking: that may serve
        unlink_waiter_locked(me);                   // the next waiter from idle_
        link_leased_locked(me.slot, Clock::now());  // as grant_locked would (nobody to wake)
    } else {
        me.wants_handoff = true;
    }
}

// How a wait ended: with a connection (whoever set `me.slot` also unlinked `me`), refused by
// the breaker (already unlinked), or with nothing: closed, or timed out.
connpool_status Pool::wait_outcome_locked(Waiter &me, int64_t timeout_ms, Error *error) {
    if (me.refused != CONNPOOL_OK) {
        if (error) *error = unavailable_error_locked();
        return me.refused;
    }
    if (me.slot != nullptr) return CONNPOOL_OK;
    unlink_waiter_locked(me);
    if (closed_) return closed_error(error);
    count(counters_.acquire_timeouts);
    note_error_locked();
    if (paused_) {  // Run-time operations
        if (error) *error = paused_timeout_locked(timeout_ms);
        return CONNPOOL_ERR_TIMEOUT;
    }
    const connpool_status status =
        last_connect_error_ ? CONNPOOL_ERR_CONNECT_FAILED : CONNPOOL_ERR_TIMEOUT;
    if (error) *error = wait_failed_locked(timeout_ms, "a connection");
    return status;
}

bool Pool::validate_for_handout(Slot &slot, TimePoint now, TimePoint &deadline,
                                int64_t timeout_ms) {
    if (now >= slot.expires_at) return false;
    if (!alive_nothrow(slot)) {
        log_->info("idle connection found closed by the server; replacing it");
        return false;
    }
    // `now` may come from the coarse clock, which lags by up to ~8 ms: thresholds that short
    // are compared with the precise clock (0 means every time).
    const bool short_threshold = options_.pre_ping_threshold_ms < 50;
    const TimePoint idle_now = short_threshold && options_.pre_ping ? Clock::now() : now;
    if (options_.pre_ping &&
        (options_.pre_ping_threshold_ms == 0 ||
         idle_now - slot.idle_since >= Millis(options_.pre_ping_threshold_ms))) {
        count(counters_.health_checks);
        // The ping has its own timeout, and never outlasts the caller's deadline either (a
        // caller who would not wait at all still lets an idle connection be checked).
        const TimePoint ping_start = Clock::now();
        if (deadline == TimePoint::max()) deadline = deadline_from(ping_start, timeout_ms);
        TimePoint ping_deadline = deadline_from(ping_start, options_.health_check_timeout_ms);
        if (timeout_ms > 0) ping_deadline = std::min(ping_deadline, deadline);
        if (!connector_->ping(*slot.connection, ping_deadline)) {
            count(counters_.health_check_failures);
            log_->info("pre-ping failed on a connection idle for {} ms; replacing it",
                       std::chrono::duration_cast<Millis>(now - slot.idle_since).count());
            return false;
        }
    }
    return true;
}

// Called unlocked with a slot just taken for a caller: checks it and, if it is fit, makes it
// the caller's lease. False means the caller must hand it to reject_handout_locked.
bool Pool::hand_out(Slot &slot, int64_t start_ticks, TimePoint now, TimePoint &deadline,
                    int64_t timeout_ms) {
    if (!validate_for_handout(slot, now, deadline, timeout_ms)) return false;
    // Kept with the slot and recorded at release, under the lock the release takes anyway:
    // recording now would cost atomic read-modify-writes on the fast path.
    slot.leased_at_ticks = fine_ticks();
    slot.wait_ns = fine_ns_between(start_ticks, slot.leased_at_ticks, ns_per_tick_);
    return true;
}

bool Pool::may_take_idle_locked() const {
    return !idle_.empty() && !waiters_.head_wants_handoff() && !paused_;
}

// lifo (the default) takes the back: the most recently returned connection.
Slot *Pool::take_idle_locked() {
    if (fifo_ || affinity_) [[unlikely]] {  // Sizing policies (core/pool_sizing.cpp)
        const size_t pick = pick_idle_locked();
        Slot *slot = idle_[pick];
        idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(pick));  // keeps the order
        return slot;
    }
    Slot *slot = idle_.back();
    idle_.pop_back();
    return slot;
}

// A slot that failed validation: take it off the leased list and count why it goes. Returns it
// for the caller to close unlocked.
Slot *Pool::reject_handout_locked(Slot *slot, TimePoint now) {
    leases_.unlink(*slot);
    --holds_;  // the caller still holds the pool
    --acquired_;
    if (slot->used) --reused_;
    if (now >= slot->expires_at) return discard_locked(slot, &counters_.closed_lifetime);
    note_dead_connection_locked(*slot);
    return discard_locked(slot, &counters_.closed_broken);
}

void Pool::note_error_locked() {
    recent_errors_.record(coarse_now());
}

void Pool::set_label(Slot &slot, std::string label) {
    std::lock_guard<std::mutex> lock(mutex_);
    slot.label.swap(label);  // the old label is freed after unlocking
}

void Pool::release(Slot *slot) {
    const ReleaseVerdict verdict = connector_->verdict_on_release(*slot->connection);
    slot->used = true;
    if (affinity_) [[unlikely]]
        remember_release(slot);  // Sizing policies
    // Only the rare paths touch the pool after unlocking; they keep their hold until done.
    const bool work_after_unlock = verdict != ReleaseVerdict::reuse;
    const int64_t held_ns = fine_ns_between(slot->leased_at_ticks, fine_ticks(), ns_per_tick_);
    Slot *to_close = nullptr;
    bool free_pool = false;
    const void *waiter_to_wake = nullptr;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const TimePoint now = coarse_now();
        ++released_;
        slot->last_released_at = now;  // Run-time operations
        wait_histogram_.record_serialised(slot->wait_ns);
        hold_histogram_.record_serialised(held_ns);
        leases_.unlink(*slot);
        if (closed_) {
            to_close = discard_locked(slot, nullptr);
        } else if (verdict == ReleaseVerdict::reuse) {
            to_close = return_to_pool_locked(slot, now, true, true, &waiter_to_wake);
        } else if (verdict == ReleaseVerdict::reset) {
            ++resetting_;
            (reset_tail_ != nullptr ? reset_tail_->next_reset : reset_head_) = slot;
            reset_tail_ = slot;
        } else {
            to_close = discard_locked(slot, &counters_.closed_broken);
        }
        if (to_close != nullptr) schedule_opens_locked(now);
        if (!work_after_unlock) free_pool = drop_hold_locked();
    }
    WakeFlag::wake(waiter_to_wake);  // the waiter it was handed to, if asleep: no futex locked
    if (work_after_unlock) {
        if (verdict == ReleaseVerdict::reset) work_cv_.notify_one();  // unlocked: no futex
        if (verdict == ReleaseVerdict::discard) {                     // call under the lock
            log_->info("returned connection was broken, busy or in an unknown state; closed it");
        }
        std::lock_guard<std::mutex> lock(mutex_);
        free_pool = drop_hold_locked();
    }
    delete to_close;
    if (free_pool) delete this;  // the pool's last hold: nothing may touch it after this
}

// ----- lifecycle ----------------------------------------------------------------------------

connpool_status Pool::wait_ready(int64_t timeout_ms, Error *error) {
    if (timeout_ms < 0) timeout_ms = options_.acquire_timeout_ms;
    const TimePoint deadline = deadline_after(timeout_ms);
    std::unique_lock<std::mutex> lock(mutex_);
    ready_cv_.wait_until(lock, deadline, [this] { return closed_ || total_ >= min_size_; });
    if (closed_) {
        if (error)
            *error = Error(CONNPOOL_ERR_POOL_CLOSED, "pool \"" + options_.name + "\" is closed");
        return CONNPOOL_ERR_POOL_CLOSED;
    }
    if (total_ >= min_size_) return CONNPOOL_OK;
    Error failed =
        wait_failed_locked(timeout_ms, (std::to_string(min_size_) + " connections").c_str());
    const connpool_status status = failed.status;
    if (error) *error = std::move(failed);
    return status;
}

void Pool::close() {
    std::lock_guard<std::mutex> serialise(close_mutex_);
    std::vector<Slot *> to_close;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!closed_) {
            closed_ = true;
            stopping_.store(true);
            for (Waiter *w = waiters_.head(), *next; w != nullptr; w = next) {
                next = w->next;
                if (w->async == nullptr) {
                    wake_locked(*w);  // it sees closed_ and unlinks itself
                } else {
                    unlink_waiter_locked(*w);
                    finish_async_locked(*w->async, CONNPOOL_ERR_POOL_CLOSED,
                                        Error(CONNPOOL_ERR_POOL_CLOSED,
                                              "pool \"" + options_.name + "\" was closed"));
                }
            }
            for (Slot *slot : idle_) to_close.push_back(discard_locked(slot, nullptr));
            idle_.clear();
            while (Slot *slot = reset_head_) {
                reset_head_ = slot->next_reset;
                --resetting_;
                to_close.push_back(discard_locked(slot, nullptr));
            }
            reset_tail_ = nullptr;
            opening_ -= open_requests_;
            open_requests_ = 0;
            ready_cv_.notify_all();
        }
        work_cv_.notify_all();
        maintenance_cv_.notify_all();
    }
    // Unlocked: the budget waits for other pools' calls into this one, which take mutex_.
    if (budget_) budget_->leave(*this);
    // Workers finish their current task quickly: connects watch stopping_, resets are bounded.
    for (std::thread &t : workers_) {
        if (t.joinable()) t.join();
    }
    if (maintenance_.joinable()) maintenance_.join();
    if (!to_close.empty()) log_->debug("closing {} idle connection(s)", to_close.size());
    for (Slot *slot : to_close) delete slot;
}

PoolStats Pool::stats() const {
    PoolStats s;
    bool closed;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        s.total = total_;
        s.idle = static_cast<int64_t>(idle_.size());
        s.in_use = total_ - s.idle;
        s.opening = opening_;
        s.waiting = waiters_.size();
        s.breaker_state = static_cast<int64_t>(connect_policy_.breaker());
        s.acquired = acquired_;
        s.released = released_;
        s.reused = reused_;
        s.requests_queued = requests_queued_;
        s.recent_errors = recent_errors_.count(coarse_now());
        s.max_size = max_size_;  // Run-time operations: the sizes in force
        s.min_size = min_size_;
        s.paused = paused_ ? 1 : 0;
        closed = closed_;
    }
    s.max_overflow = options_.max_overflow;
    auto get = [](const std::atomic<int64_t> &c) { return c.load(std::memory_order_relaxed); };
    s.drains = get(counters_.drains);  // Run-time operations
    s.closed_drained = get(counters_.closed_drained);
    s.resizes = get(counters_.resizes);
    s.reset_failures = get(counters_.reset_failures);
    s.dead_replaced = get(counters_.dead_replaced);
    s.alloc_failures = get(counters_.alloc_failures);
    s.cancel_timeouts = get(counters_.cancel_timeouts);
    s.created = get(counters_.created);
    s.closed = get(counters_.closed);
    s.acquire_timeouts = get(counters_.acquire_timeouts);
    s.connect_errors = get(counters_.connect_errors);
    s.health_checks = get(counters_.health_checks);
    s.health_check_failures = get(counters_.health_check_failures);
    s.closed_lifetime = get(counters_.closed_lifetime);
    s.closed_idle = get(counters_.closed_idle);
    s.closed_broken = get(counters_.closed_broken);
    s.closed_overflow = get(counters_.closed_overflow);
    s.resets = get(counters_.resets);
    s.breaker_opens = get(counters_.breaker_opens);
    s.waiters_rejected = get(counters_.waiters_rejected);
    s.unavailable = get(counters_.unavailable);
    s.leaks_detected = get(counters_.leaks_detected);
    s.canceled = get(counters_.canceled);
    s.sweeps = get(counters_.sweeps);
    // Sizing policies
    s.keepalive_checks = get(counters_.keepalive_checks);
    s.keepalive_failures = get(counters_.keepalive_failures);
    fill_latency_stats(s, wait_histogram_.snapshot(), hold_histogram_.snapshot());
    s.utilisation_percent = utilisation_percent(s);
    s.health = static_cast<int64_t>(assess_health(s, health_thresholds(), closed));
    return s;
}

PoolHistograms Pool::histograms() const {
    return {wait_histogram_.snapshot(), hold_histogram_.snapshot(), connect_histogram_.snapshot()};
}

HealthThresholds Pool::health_thresholds() const {
    return {options_.health_degraded_utilisation, options_.health_unhealthy_utilisation,
            options_.health_unhealthy_errors, options_.health_error_window_ms};
}

bool Pool::closed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
}

HealthReport Pool::health() const {
    const PoolStats s = stats();
    return explain_health(s, health_thresholds(), closed());
}

std::string Pool::health_json() const {
    const PoolStats s = stats();
    return health_to_json(explain_health(s, health_thresholds(), closed()), s, options_.name);
}

std::string Pool::stats_json() const {
    bool closed;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        closed = closed_;
    }
    return stats_to_json(stats(), options_.name, closed);
}

}  // namespace connpool
