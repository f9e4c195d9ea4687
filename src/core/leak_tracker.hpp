// Leak tracking: the leases out, in an intrusive list, and the report of those held longer
// than leak_threshold (each lease at most once).
//
// Plain data, no locking of its own: the pool's mutex guards the tracker and the LeaseRecord
// part of every slot. Linking and unlinking (on the acquire/release fast path) never allocate;
// only a report of leaks does, on the maintenance thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace connpool {

// What leak tracking keeps with a leased slot (Slot derives from it).
struct LeaseRecord {
    LeaseRecord *leased_prev = nullptr;  // links in the list of leases out
    LeaseRecord *leased_next = nullptr;
    TimePoint leased_since{};
    bool leak_reported = false;
    std::string label;  // set by the lease holder, shown in leak reports
};

class LeakTracker {
  public:
    struct Leak {
        int64_t held_ms;
        std::string label;
    };

    // `lease` goes out at `now`: a new lease, unlabelled and not reported yet.
    void link(LeaseRecord &lease, TimePoint now) {
        lease.leased_since = now;
        lease.label.clear();  // a label belongs to one lease (clear() keeps the buffer: no free)
        lease.leak_reported = false;
        lease.leased_prev = nullptr;
        lease.leased_next = head_;
        if (head_ != nullptr) head_->leased_prev = &lease;
        head_ = &lease;
    }

    // `lease` came back (or was rejected before the caller got it).
    void unlink(LeaseRecord &lease) {
        (lease.leased_prev != nullptr ? lease.leased_prev->leased_next : head_) = lease.leased_next;
        if (lease.leased_next != nullptr) lease.leased_next->leased_prev = lease.leased_prev;
        lease.leased_prev = lease.leased_next = nullptr;
    }

    // The most recent lease out first; null if none.
    const LeaseRecord *head() const { return head_; }

    // When the next lease not yet reported crosses `threshold`; TimePoint::max() if none.
    TimePoint next_due(Millis threshold) const {
        TimePoint due = TimePoint::max();
        for (const LeaseRecord *l = head_; l != nullptr; l = l->leased_next) {
            if (!l->leak_reported) due = std::min(due, l->leased_since + threshold);
        }
        return due;
    }

    // The leases held for `threshold` or longer at `now` that were not reported yet; they are
    // marked reported.
    std::vector<Leak> take_new_leaks(TimePoint now, Millis threshold) {
        std::vector<Leak> leaks;
        for (LeaseRecord *l = head_; l != nullptr; l = l->leased_next) {
            if (l->leak_reported || now - l->leased_since < threshold) continue;
            l->leak_reported = true;
            leaks.push_back(
                {std::chrono::duration_cast<Millis>(now - l->leased_since).count(), l->label});
        }
        return leaks;
    }

  private:
    LeaseRecord *head_ = nullptr;
};

}  // namespace connpool
