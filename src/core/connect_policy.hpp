// When the pool may try to connect: exponential backoff with jitter after failures, and a
// circuit breaker that makes acquires fail fast while the database is unreachable.
//
// Breaker states: closed (normal), open (connects keep failing: acquirers with nothing to wait
// for are refused at once) and half-open (one probe connect at a time is under way). It opens
// after `breaker_threshold` consecutive failures (0 disables it), or at once on a permanent
// failure (bad credentials...); the first successful connect closes it.
//
// Fast recovery: while callers wait (the pool says so through `hurry`), a connect may also start
// once `hurry` has passed since the last failure, even inside a longer backoff step, so that the
// pool serves again within about that long of the server coming back (the recovery_probe_interval
// option). The pool makes those early attempts one at a time. Without waiters
// the exponential backoff alone decides.
//
// Plain data, no locking of its own: the pool's mutex guards it. No clock of its own either:
// callers pass the time and the random fraction used for jitter, so it is deterministic.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/clock.hpp"

namespace connpool {

class ConnectPolicy {
  public:
    // Values as reported in PoolStats::breaker_state.
    enum class Breaker { closed = 0, open = 1, half_open = 2 };

    // The first backoff after a success, and the longest; each failure doubles it in between.
    static constexpr int64_t kFirstBackoffMs = 100;
    static constexpr int64_t kMaxBackoffMs = 5'000;

    explicit ConnectPolicy(int64_t breaker_threshold) : breaker_threshold_(breaker_threshold) {}

    struct FailureOutcome {
        int64_t backoff_ms;   // how long connects now wait (jittered)
        bool breaker_opened;  // the breaker just opened (not: a probe failed again)
    };
    // A connect failed at `now`; `permanent` as ConnectFailure::permanent. `jitter` is a random
    // fraction in [0, 1): the backoff is spread +-20% so that many pools do not retry in
    // lockstep.
    FailureOutcome on_failure(TimePoint now, bool permanent, double jitter) {
        backoff_ms_ = backoff_ms_ == 0 ? kFirstBackoffMs : std::min(backoff_ms_ * 2, kMaxBackoffMs);
        const auto backoff_ms =
            static_cast<int64_t>(static_cast<double>(backoff_ms_) * (0.8 + 0.4 * jitter));
        backoff_until_ = now + Millis(backoff_ms);
        failed_at_ = now;
        ++consecutive_failures_;
        const bool trip =
            breaker_threshold_ > 0 && (permanent || consecutive_failures_ >= breaker_threshold_);
        bool opened = false;
        if (breaker_ == Breaker::half_open) {
            breaker_ = Breaker::open;  // the probe failed
        } else if (breaker_ == Breaker::closed && trip) {
            breaker_ = Breaker::open;
            opened = true;
        }
        return {backoff_ms, opened};
    }

    // A connect succeeded: no more backoff, breaker closed. True if it was not closed.
    bool on_success() {
        const bool was_tripped = breaker_ != Breaker::closed;
        breaker_ = Breaker::closed;
        consecutive_failures_ = 0;
        backoff_ms_ = 0;
        backoff_until_ = {};
        failed_at_ = {};
        return was_tripped;
    }

    // Connects requested before `backoff_until()` wait for it.
    bool backing_off(TimePoint now) const { return now < backoff_until_; }
    TimePoint backoff_until() const { return backoff_until_; }
    // The same with callers waiting: `hurry` (> 0) after the last failure at the latest.
    bool backing_off(TimePoint now, Millis hurry) const { return now < retry_at(hurry); }
    TimePoint retry_at(Millis hurry) const {
        return failed_at_ == TimePoint{} ? backoff_until_
                                         : std::min(backoff_until_, failed_at_ + hurry);
    }

    Breaker breaker() const { return breaker_; }
    bool breaker_closed() const { return breaker_ == Breaker::closed; }
    // A probe connect starts while the breaker is not closed (the caller sends one at a time).
    void start_probe() { breaker_ = Breaker::half_open; }
    int64_t consecutive_failures() const { return consecutive_failures_; }

  private:
    const int64_t breaker_threshold_;
    int64_t backoff_ms_ = 0;  // the backoff step before jitter; 0 after a success
    TimePoint backoff_until_{};
    TimePoint failed_at_{};  // the last failure; cleared by a success
    Breaker breaker_ = Breaker::closed;
    int64_t consecutive_failures_ = 0;
};

}  // namespace connpool
