// The pool's sizing policies: connections opened ahead of demand (min_idle,
// target_utilisation), which idle connection an acquire takes (idle_order, thread_affinity),
// background keepalive of idle connections (keepalive_interval) and fast recovery after an
// outage (recovery_probe_interval). Each is off, or free, by default: the lifo fast path tests
// one flag.
#include <algorithm>

#include <spdlog/logger.h>

#include "core/pool.hpp"
#include "core/pool_internal.hpp"

namespace connpool {

using detail::count;

namespace {
// The slot this thread last released (any pool; only with thread_affinity). Only ever
// compared, never dereferenced, so a stale value is harmless.
thread_local const Slot *last_released = nullptr;
}  // namespace

// ----- fast recovery ------------------------------------------------------------------------

bool Pool::callers_wait_locked() const {
    return waiters_.size() > 0 || probe_wanted_;
}

// While callers wait, an outage costs them at most recovery_probe_interval after the server is
// back, not the rest of a backoff step of up to 5 s. The early attempts are probes, one at a
// time (schedule_opens_locked), so a long outage still costs the server little.
bool Pool::backing_off_locked(TimePoint now) const {
    return now < connect_retry_at_locked();
}

TimePoint Pool::connect_retry_at_locked() const {
    if (!callers_wait_locked()) return connect_policy_.backoff_until();
    return connect_policy_.retry_at(Millis(options_.recovery_probe_interval_ms));
}

// ----- opening ahead of demand --------------------------------------------------------------

// min_idle: in use + min_idle. target_utilisation: enough that in_use/total is at most the
// target. Judged at each acquire and maintenance pass; connections no longer asked for idle
// out by max_idle (evict_idle_locked keeps this many).
int64_t Pool::sizing_target_locked() const {
    if (!grows_with_load_) return 0;
    const int64_t in_use = total_ - static_cast<int64_t>(idle_.size());
    int64_t target = 0;
    if (options_.min_idle > 0) target = in_use + options_.min_idle;
    if (options_.target_utilisation > 0) {
        const int64_t percent = options_.target_utilisation;
        target = std::max(target, (in_use * 100 + percent - 1) / percent);
    }
    return std::min(target, max_size_);
}

// Called under the lock by every acquire when a policy is on: requests connects only when one
// is missing and none could start (backoff), so the usual case costs a few comparisons.
void Pool::grow_for_load_locked(TimePoint now) {
    if (sizing_target_locked() > total_ + opening_ && !backing_off_locked(now)) {
        schedule_opens_locked(now);
    }
}

// ----- which idle connection ----------------------------------------------------------------

// thread_affinity: the connection this thread released last if it is idle, else by idle_order.
// fifo: the front, idle the longest. (Only called when one of them is on.)
size_t Pool::pick_idle_locked() const {
    if (affinity_ && last_released != nullptr) {
        for (size_t i = idle_.size(); i-- > 0;) {
            if (idle_[i] == last_released) return i;
        }
    }
    return fifo_ ? 0 : idle_.size() - 1;
}

void Pool::remember_release(const Slot *slot) {
    last_released = slot;
}

// ----- keepalive ----------------------------------------------------------------------------

// Checks the idle connections not used or checked for keepalive_interval, one at a time and
// outside the lock: a killed backend is closed and replaced (schedule_opens_locked refills
// to min_size / min_idle), and a NAT or firewall idle timer sees traffic. While checked, a
// connection is out of the idle set (counted as in use). Callers waiting stop it: they need
// the connections, and the pre-ping still checks what they take.
void Pool::keepalive_idle(std::unique_lock<std::mutex> &lock) {
    for (size_t left = idle_.size(); left > 0; --left) {
        if (closed_ || waiters_.size() > 0) return;
        Slot *slot = take_keepalive_due_locked(Clock::now());
        if (slot == nullptr) return;
        lock.unlock();
        const bool alive = proves_alive(*slot);
        lock.lock();
        const TimePoint now = Clock::now();
        count(counters_.keepalive_checks);
        Slot *to_close = nullptr;
        if (alive) {
            slot->alive_at = now;
            to_close = put_back_checked_locked(slot, now);
        } else {
            count(counters_.keepalive_failures);
            to_close = discard_locked(slot, &counters_.closed_broken);
        }
        schedule_opens_locked(now);
        if (to_close == nullptr) continue;
        lock.unlock();
        if (!alive) log_->info("keepalive found an idle connection dead; replacing it");
        delete to_close;
        lock.lock();
    }
}

// The connection idle the longest among those due (front first), taken out of idle_.
Slot *Pool::take_keepalive_due_locked(TimePoint now) {
    const Millis interval(options_.keepalive_interval_ms);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        Slot *slot = *it;
        if (now - std::max(slot->idle_since, slot->alive_at) >= interval) {
            idle_.erase(it);  // no allocation: it only shrinks
            return slot;
        }
    }
    return nullptr;
}

bool Pool::proves_alive(Slot &slot) {
    try {
        return connector_->looks_alive(*slot.connection) &&
               connector_->ping(*slot.connection, deadline_after(options_.health_check_timeout_ms));
    } catch (const std::bad_alloc &) {
        count(counters_.alloc_failures);  // unknown state: closed and replaced
        return false;
    } catch (const std::exception &) {
        return false;
    }
}

// A checked connection goes back where it was (the front: idle the longest), so that keepalive
// does not change which connections lifo keeps warm; or to a waiter that came meanwhile, or it
// closes (pool closed, expired, overflow).
Slot *Pool::put_back_checked_locked(Slot *slot, TimePoint now) {
    if (closed_ || waiters_.size() > 0 || total_ > max_size_ || now >= slot->expires_at) {
        return return_to_pool_locked(slot, now, false);
    }
    idle_.insert(idle_.begin(), slot);  // within the capacity reserved for every connection
    return nullptr;
}

}  // namespace connpool
