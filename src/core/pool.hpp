// The generic pool: capacity, idle connections, waiters, background workers, maintenance and
// statistics. It knows nothing about PostgreSQL; a Connector does the I/O.
//
// Locking rule: one mutex guards the pool's state, including the plain data structures it is
// built from (WaiterQueue, ConnectPolicy, LeakTracker: none has a lock of its own). Nothing that
// can block (connect, ping, reset, close, logging) happens while it is held, and the
// acquire/release fast path does not allocate under it. The one system call it may make there is
// waking a waiter: a release that hands its connection to a blocked acquirer notifies that waiter's
// condition variable (it lives on the waiter's stack, so it must be notified before unlocking), and
// an asynchronous waiter's eventfd is written under the lock for the same reason.
//
// Fairness: waiters are served first come, first served, with a bounded exception. A blocking
// waiter first sleeps for at most the overtake_window_us option (200 µs); a connection released
// during that window goes back to the idle stack, where a running thread may take it (no
// context switch: the thread that just released usually takes its own connection again). When
// its window ends the waiter takes an idle connection itself or, if none, asks for hand-off:
// from then on every release hands it the connection. So no waiter is overtaken for longer
// than the window, and a burst of 8 threads on 4 connections does not convoy through a sleep
// and a wake-up per cycle. Waiters queued behind one that asks for hand-off skip the window
// (it would only cost them a wake-up: releases will not go idle), so a long queue under
// sustained overload is plain FIFO hand-off. Asynchronous waiters always ask for hand-off.
//
// Lifetime: the Pool is owned by shared_ptrs (the C handle, asynchronous requests) whose
// deleter (Pool::orphan) closes it and frees it once no lease is out: leases do not hold a
// reference each, which would cost two contended atomic operations per cycle.
//
// Connection budget: a pool created with a ConnectionBudget takes a permit before each connect
// and its slots give it back when they close (see core/connection_budget.hpp). Acquire and
// release never touch the budget.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/connect_policy.hpp"
#include "core/connection_budget.hpp"
#include "core/connector.hpp"
#include "core/error.hpp"
#include "core/health.hpp"
#include "core/histogram.hpp"
#include "core/leak_tracker.hpp"
#include "core/options.hpp"
#include "core/stats.hpp"
#include "core/waiter_queue.hpp"

namespace spdlog {
class logger;
}

namespace connpool {

class Pool;
class AsyncAcquire;

// The layer above may keep one word with every slot for the slot's whole life, attached and
// detached by hooks installed once per process before pools are created. (The C API keeps the
// handle-registry cell of the slot's lease tokens there, so that acquiring never allocates.)
struct SlotTagHooks {
    uint64_t (*attach)() = nullptr;
    void (*detach)(uint64_t tag) = nullptr;
};
// Idempotent; installing different hooks once slots exist is a bug.
void install_slot_tag_hooks(SlotTagHooks hooks);

// One pooled connection and its bookkeeping. At any moment exactly one party owns a Slot: the
// idle stack, a lease, a waiter being handed it, the reset queue, or whoever closes it. While
// leased it is in the pool's LeakTracker (the LeaseRecord part, label included, is guarded by
// the pool mutex).
struct Slot : LeaseRecord {
    Slot(Pool &owner, std::unique_ptr<Connection> connection, TimePoint expires_at);
    ~Slot();
    Slot(const Slot &) = delete;
    Slot &operator=(const Slot &) = delete;

    Pool &pool;
    std::unique_ptr<Connection> connection;
    const TimePoint created_at;
    const TimePoint expires_at;  // TimePoint::max() when max_lifetime is 0
    TimePoint idle_since;        // when it last became idle (or was created)
    bool used = false;           // has been leased before
    // Run-time operations: identity (read once when opened) and use, for lease info and the
    // connections list. use_count and last_released_at are guarded by the pool mutex.
    uint64_t connection_id = 0;
    int32_t backend_pid = 0;
    int64_t use_count = 0;         // leases so far, the current one included
    TimePoint last_released_at{};  // when its latest lease ended (created_at before any)
    uint64_t drain_epoch = 0;      // the pool's drain_epoch_ when its connect began
    const uint64_t tag;            // see SlotTagHooks
    Slot *next_reset = nullptr;    // link in the reset queue
    uint64_t sweep_epoch = 0;      // the pool's sweep_epoch_ when it was last handed out
    // The current lease, for the latency histograms (set when handed out, read at release).
    int64_t leased_at_ticks = 0;  // fine_ticks() when the lease began
    int64_t wait_ns = 0;          // how long its acquire took
    // The budget this connection's permit goes back to when it closes; null if it holds none.
    ConnectionBudget *budget = nullptr;  // Sizing policies: when keepalive_interval last proved it
                                         // alive (not a use: idle_since,
    // which max_idle judges, stays).
    TimePoint alive_at{};
};

// Run-time operations: what connpool_lease_get_info reports (times from the steady clock).
struct LeaseInfo {
    uint64_t connection_id = 0;
    int32_t backend_pid = 0;
    TimePoint created_at{};
    TimePoint last_used_at{};
    int64_t use_count = 0;
    bool is_new = false;
};

// The latency distributions of a pool (see core/histogram.hpp).
struct PoolHistograms {
    HistogramSnapshot acquire_wait;  // every successful acquire, recorded at release
    HistogramSnapshot lease_hold;    // every lease released
    HistogramSnapshot connect;       // every connection opened successfully
};

// An acquire that never blocks its caller: completion is signalled on an eventfd, created only
// when someone asks for it (a request granted at once, the common case, never costs one). All
// fields are guarded by the pool's mutex.
class AsyncAcquire {
  public:
    explicit AsyncAcquire(std::shared_ptr<Pool> pool);
    ~AsyncAcquire();
    AsyncAcquire(const AsyncAcquire &) = delete;
    AsyncAcquire &operator=(const AsyncAcquire &) = delete;

    // The eventfd, readable once there is an outcome. Creates it on first use; throws
    // std::system_error if the process is out of file descriptors.
    int fd();
    Pool &pool() const { return *pool_; }

  private:
    friend class Pool;
    void signal();
    void unsignal();

    const std::shared_ptr<Pool> pool_;
    int event_fd_ = -1;
    bool signaled_ = false;
    Waiter waiter_;
    TimePoint start_{};
    int64_t start_ticks_ = 0;  // fine_ticks() at start, for the wait histogram
    TimePoint deadline_{};
    int64_t timeout_ms_ = 0;
    connpool_status status_ = CONNPOOL_ERR_IN_PROGRESS;
    Error error_;
    bool collected_ = false;
    bool collecting_ = false;        // a collect is validating the granted slot, unlocked
    bool cancel_requested_ = false;  // cancel arrived during that validation
};

class Pool final : private BudgetMember {
    friend class AsyncAcquire;  // its eventfd state is guarded by mutex_

  public:
    // Starts the background workers; min_size connections are opened asynchronously. When the
    // last shared_ptr goes, the pool is closed, and freed with the last outstanding lease.
    // With a `budget`, the pool's open and opening connections count against it (see
    // core/connection_budget.hpp) until the pool is closed.
    static std::shared_ptr<Pool> create(PoolOptions options, std::unique_ptr<Connector> connector,
                                        std::shared_ptr<ConnectionBudget> budget = nullptr);
    ~Pool() override;
    Pool(const Pool &) = delete;
    Pool &operator=(const Pool &) = delete;

    // Borrows a connection. timeout_ms: 0 = no wait, < 0 = acquire_timeout option. On failure
    // fills `error` (if not null) with a message; the fast path builds no strings.
    connpool_status acquire(int64_t timeout_ms, Slot *&out, Error *error) {
        return acquire_slot(timeout_ms, false, out, error);
    }
    // Takes an idle connection if that needs no waiting, else CONNPOOL_ERR_WOULD_BLOCK with no
    // side effect: nothing is counted or queued, no connection is opened.
    connpool_status try_acquire(Slot *&out, Error *error) {
        return acquire_slot(0, true, out, error);
    }
    // Labels a leased slot (shown in leak reports).
    void set_label(Slot &slot, std::string label);
    // Returns a leased slot. Never blocks on the network.
    void release(Slot *slot);
    // Asynchronous acquire: start never blocks; collect validates a granted connection and
    // hands it over (IN_PROGRESS until there is an outcome); cancel is idempotent.
    void start_async(AsyncAcquire &request, int64_t timeout_ms);
    connpool_status collect_async(AsyncAcquire &request, Slot *&out, Error *error);
    void cancel_async(AsyncAcquire &request);
    // Waits until min_size connections are open.
    connpool_status wait_ready(int64_t timeout_ms, Error *error);
    // Closes the pool in bounded time; idempotent and thread-safe.
    void close();

    // A cancel request on one of its leases was given up at cancel_timeout (the lease's
    // connection layer sends the request; the pool only counts it).
    void count_cancel_timeout() {
        counters_.cancel_timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    // A snapshot; its health fields judge the pool with the health_* options.
    PoolStats stats() const;
    std::string stats_json() const;
    PoolHistograms histograms() const;
    // The verdict with its reasons.
    HealthReport health() const;
    std::string health_json() const;
    const std::string &name() const { return options_.name; }
    // The layer above may reach its own connector (e.g. to give it a new conninfo).
    Connector &connector() const { return *connector_; }
    bool closed() const;
    spdlog::logger &log() { return *log_; }
    // True in a child process after fork(): the pool must not be used there.
    bool forked() const;

    // Run-time operations (core/pool_operations.cpp). Each returns CONNPOOL_ERR_POOL_CLOSED on
    // a closed pool; none blocks except check, one health_check_timeout per idle connection.
    connpool_status resize(int64_t min_size, int64_t max_size, Error *error);
    connpool_status pause(Error *error);
    connpool_status resume(Error *error);
    connpool_status drain(Error *error);
    connpool_status check(int64_t &closed, Error *error);
    // About a leased slot; called by its lease holder.
    LeaseInfo lease_info(const Slot &slot) const;
    std::string connections_json() const;

  private:
    // acquire() and try_acquire().
    connpool_status acquire_slot(int64_t timeout_ms, bool try_only, Slot *&out, Error *error);
    // Its steps away from the fast path.
    connpool_status closed_error(Error *error) const;
    struct WaitTerms {
        TimePoint start;     // from the precise clock
        TimePoint deadline;  // when the wait gives up
        int64_t timeout_ms;
        bool late;  // the deadline passed while replacing a dead connection: take only what is
                    // there at once
    };
    // Called locked; returns unlocked with `slot` (already the caller's lease) on OK, still
    // locked otherwise.
    connpool_status wait_in_line(std::unique_lock<std::mutex> &lock, const WaitTerms &terms,
                                 Slot *&slot, Error *error);
    bool skips_window_locked();
    bool pending_locked(const Waiter &me) const;
    void sit_out_window(std::unique_lock<std::mutex> &lock, Waiter &me, TimePoint deadline);
    connpool_status wait_outcome_locked(Waiter &me, int64_t timeout_ms, Error *error);
    struct Counters {
        // Run-time operations (keepalive_checks/_failures, below, count checks too).
        std::atomic<int64_t> drains{0}, closed_drained{0}, resizes{0};
        std::atomic<int64_t> reset_failures{0}, dead_replaced{0}, alloc_failures{0},
            cancel_timeouts{0};
        std::atomic<int64_t> created{0}, closed{0}, acquire_timeouts{0}, connect_errors{0},
            health_checks{0}, health_check_failures{0}, closed_lifetime{0}, closed_idle{0},
            closed_broken{0}, closed_overflow{0}, resets{0}, breaker_opens{0}, waiters_rejected{0},
            unavailable{0}, leaks_detected{0}, canceled{0}, sweeps{0};
        // Sizing policies
        std::atomic<int64_t> keepalive_checks{0}, keepalive_failures{0};
    };

    Pool(PoolOptions options, std::unique_ptr<Connector> connector,
         std::shared_ptr<ConnectionBudget> budget);
    void start();
    // The shared_ptr deleter: closes the pool; frees it now or with the last lease.
    static void orphan(Pool *pool);
    // Ends one hold on the pool (a lease, or a release finishing); true if the caller must
    // now delete the pool (orphaned and nothing else holds it).
    bool drop_hold_locked();

    // All *_locked functions require mutex_.
    // Gives `slot` to a queued waiter (unlinking it; a blocking waiter's slot becomes its lease
    // here, so that it needs no lock to take it) and wakes it. A blocking waiter asleep is woken
    // at once, or, if `wake_later` is given, by the caller after unlocking (WakeFlag::wake).
    void grant_locked(Waiter &waiter, Slot *slot, TimePoint now, const void **wake_later = nullptr);
    void wake_locked(Waiter &waiter, const void **wake_later = nullptr);
    void finish_async_locked(AsyncAcquire &request, connpool_status status, Error error);
    // An asynchronous acquire ends without a connection: its wait timed out (counted as an
    // acquire timeout, with the pool's state in the message), or the pool is closed.
    void time_out_async_locked(AsyncAcquire &request);
    void close_out_async_locked(AsyncAcquire &request);
    Error wait_failed_locked(int64_t timeout_ms, const char *what) const;
    void expire_async_waiters_locked(TimePoint now);
    void regrant_async_locked(AsyncAcquire &request);
    void unlink_waiter_locked(Waiter &waiter);
    void serve_idle_to_head_locked();
    // `used`: the connection was just used (released, reset, opened), so its idle time restarts;
    // false for a slot merely checked or handed back unused (sweep, cancelled grant).
    // `overtakable`: a release by a running thread, which a waiter in its overtaking window
    // leaves idle.
    // `wake_later`: as for grant_locked.
    Slot *return_to_pool_locked(Slot *slot, TimePoint now, bool used = true,
                                bool overtakable = false, const void **wake_later = nullptr);
    Slot *discard_locked(Slot *slot, std::atomic<int64_t> *reason);  // reason may be null
    void schedule_opens_locked(TimePoint now);
    std::string describe_state_locked() const;
    // Refusals that happen before waiting: breaker open with nothing to wait for, or too many
    // waiters. CONNPOOL_OK when the caller may wait.
    connpool_status refuse_wait_locked(int64_t timeout_ms, TimePoint now, Error *error);
    Error unavailable_error_locked() const;
    void fail_waiters_fast_locked();
    // A slot becomes a lease: counts the acquire and holds the pool (see drop_hold_locked).
    void link_leased_locked(Slot *slot, TimePoint now);
    void note_dead_connection_locked(const Slot &dead);
    void sweep_idle(std::unique_lock<std::mutex> &lock);
    void report_leaks(std::unique_lock<std::mutex> &lock, TimePoint now);

    // `deadline` may be TimePoint::max() (not fixed yet): a pre-ping fixes it from the precise
    // clock.
    bool validate_for_handout(Slot &slot, TimePoint now, TimePoint &deadline, int64_t timeout_ms);
    // `start_ticks`: fine_ticks() when the acquire began.
    bool hand_out(Slot &slot, int64_t start_ticks, TimePoint now, TimePoint &deadline,
                  int64_t timeout_ms);
    // An idle connection may be taken by a newcomer: nobody waits for hand-off.
    bool may_take_idle_locked() const;
    Slot *take_idle_locked();
    Slot *reject_handout_locked(Slot *slot, TimePoint now);
    // A failed connect, an acquire timeout or a connection found broken (health).
    void note_error_locked();
    HealthThresholds health_thresholds() const;
    // The body of a pool thread, restarted after an exception (core/pool_background.cpp).
    void run_guarded(void (Pool::*body)(), std::condition_variable &wake);
    bool alive_nothrow(Slot &slot) noexcept;
    void worker_loop();
    void maintenance_loop();
    TimePoint next_maintenance_locked() const;
    void evict_idle_locked(TimePoint now, std::vector<Slot *> &evicted);
    void run_open();
    std::unique_ptr<Connection> connect_nothrow(ConnectFailure &failure) noexcept;
    Slot *register_nothrow(std::unique_ptr<Connection> connection, uint64_t drain_epoch,
                           ConnectFailure &failure) noexcept;
    // A permit of the connection budget for the connect about to start (always, without a
    // budget). Without one the open request is dropped and the pool waits for a permit.
    bool take_connect_permit();
    // BudgetMember: called by the budget with no lock held.
    bool give_up_idle_connection() override;
    void budget_permit_freed() override;
    void run_reset(Slot *slot);
    TimePoint lifetime_deadline(TimePoint created) const;

    // Sizing policies (core/pool_sizing.cpp): min_idle, target_utilisation, idle_order,
    // thread_affinity, keepalive_interval and fast recovery (recovery_probe_interval).
    // Callers want a connection now: waiters, or a fail-fast acquire refused by the breaker.
    bool callers_wait_locked() const;
    // Connects wait for the backoff; with callers waiting, recovery_probe_interval at most.
    bool backing_off_locked(TimePoint now) const;
    TimePoint connect_retry_at_locked() const;
    // The total that min_idle and target_utilisation ask for (0 when off), up to max_size.
    int64_t sizing_target_locked() const;
    // After an acquire: opens ahead of demand if min_idle or target_utilisation ask for more.
    void grow_for_load_locked(TimePoint now);
    // The index in idle_ of the connection to take (fifo or thread affinity; lifo: the back).
    size_t pick_idle_locked() const;
    static void remember_release(const Slot *slot);
    void keepalive_idle(std::unique_lock<std::mutex> &lock);
    Slot *take_keepalive_due_locked(TimePoint now);
    bool proves_alive(Slot &slot);
    Slot *put_back_checked_locked(Slot *slot, TimePoint now);

    const PoolOptions options_;
    const std::unique_ptr<Connector> connector_;
    const std::shared_ptr<spdlog::logger> log_;
    const std::shared_ptr<ConnectionBudget> budget_;  // null: not counted against a budget
    // Sizing policies, from the options. The lifo default tests one flag on acquire.
    const bool fifo_;
    const bool affinity_;
    const bool grows_with_load_;  // min_idle or target_utilisation

    mutable std::mutex mutex_;
    std::vector<Slot *> idle_;  // back is the most recently returned, front the longest idle
    WaiterQueue waiters_;
    TimePoint maintenance_wake_{};  // when the maintenance thread wakes next
    int64_t total_ = 0;             // open connections, idle or not
    int64_t opening_ = 0;           // requested or in-progress connects
    int64_t open_requests_ = 0;     // of those, not yet picked up by a worker
    int64_t resetting_ = 0;
    Slot *reset_head_ = nullptr;
    Slot *reset_tail_ = nullptr;
    bool closed_ = false;
    std::atomic<bool> stopping_{false};  // read by connectors to abandon a connect
    ConnectPolicy connect_policy_;       // backoff and circuit breaker
    bool probe_wanted_ = false;          // a refused acquirer wants the breaker probed
    bool sweep_requested_ = false;
    uint64_t sweep_epoch_ = 0;  // sweeps started (under the lock)
    LeakTracker leases_;        // leases out
    int64_t holds_ = 0;         // leases out + releases still running (they keep the pool alive)
    bool orphaned_ = false;     // no shared_ptr left: the last hold frees the pool
    int64_t acquired_ = 0, reused_ = 0, released_ = 0;  // counters kept under the lock
    int64_t requests_queued_ = 0;
    ErrorWindow recent_errors_;
    // Overtaking windows behind a hand-off waiter pay off only when connections are held
    // briefly (more than kBriefHoldCycles cycles per connection in a window): see
    // sit_out_window().
    static constexpr int64_t kBriefHoldCycles = 25;
    bool brief_holds_ = false;
    uint64_t window_skips_ = 0;
    std::shared_ptr<const std::string> last_connect_error_;
    std::string last_connect_sqlstate_;  // of last_connect_error_, when the server sent one
    // The budget refused a permit: no connect is requested until it frees one (it calls
    // budget_permit_freed) or, while acquirers wait, until budget_retry_at_, when the pool asks
    // again (another pool may have an idle connection to give up by then).
    bool budget_blocked_ = false;
    uint64_t budget_signals_ = 0;  // budget_permit_freed calls so far
    // The budget refused this pool's latest permit request (for messages: it stays set while
    // retries are in flight, unlike budget_blocked_).
    std::atomic<bool> budget_short_{false};
    TimePoint budget_retry_at_{};
    static constexpr Millis kBudgetRetry{100};
    std::condition_variable work_cv_;
    std::condition_variable maintenance_cv_;
    std::condition_variable ready_cv_;

    std::mutex close_mutex_;  // serialises close() so every caller returns after the joins
    std::vector<std::thread> workers_;
    std::thread maintenance_;

    Counters counters_;
    const uint64_t fork_generation_;
    const double ns_per_tick_;  // fine_ticks() to nanoseconds
    // Written under mutex_ (record_serialised), read without it.
    LatencyHistogram wait_histogram_;
    LatencyHistogram hold_histogram_;
    LatencyHistogram connect_histogram_;  // written by the workers, unlocked (record)

    // Run-time operations: state a running pool may change, guarded by mutex_.
    void serve_waiters_locked();
    Error paused_timeout_locked(int64_t timeout_ms) const;
    void note_identity(Slot &slot, uint64_t drain_epoch);  // a new slot, before it is shared
    bool drained_locked(const Slot &slot) const;
    Slot *take_idle_to_check_locked(const std::vector<Slot *> &candidates, size_t &next);
    int64_t min_size_;  // in force (the option, or the last resize)
    int64_t max_size_;
    bool paused_ = false;
    std::atomic<uint64_t> drain_epoch_{0};  // drains so far; written under mutex_
    std::mutex check_mutex_;                // one check at a time
    Slot *checking_ = nullptr;              // the idle slot a check has taken out
};

}  // namespace connpool
