// Run-time operations on a running pool: resize, pause/resume, drain, check, and what its
// connections are (lease info, the connections list).
//
// Like the rest of the pool, nothing here blocks under the lock: slots to close are taken out
// under it and closed after unlocking; a check takes one idle slot out at a time and pings it
// unlocked.
#include <algorithm>
#include <stdexcept>
#include <string_view>

#include <spdlog/logger.h>

#include "core/pool.hpp"
#include "core/pool_internal.hpp"
#include "core/stats_json.hpp"

namespace connpool {

using detail::count;

namespace {

// The accepted range of a size option, from the option list (the one place it is stated).
const OptionSpec &size_spec(std::string_view key) {
    for (const OptionField<PoolOptions> &field : pool_option_fields()) {
        if (key == field.spec.key) return field.spec;
    }
    throw std::logic_error("no pool option named " + std::string(key));
}

std::string out_of_range(const OptionSpec &spec, int64_t value) {
    if (value >= spec.min && value <= spec.max) return {};
    return "resize: " + std::string(spec.key) + " " + std::to_string(value) + " must be from " +
           std::to_string(spec.min) + " to " + std::to_string(spec.max);
}

// What is wrong with a requested size, or an empty string.
std::string size_problem(int64_t min_size, int64_t max_size) {
    std::string problem = out_of_range(size_spec("min_size"), min_size);
    if (problem.empty()) problem = out_of_range(size_spec("max_size"), max_size);
    if (problem.empty() && min_size > max_size) {
        problem = "resize: min_size " + std::to_string(min_size) + " must not exceed max_size " +
                  std::to_string(max_size);
    }
    return problem;
}

int64_t ms_between(TimePoint from, TimePoint to) {
    return std::max<int64_t>(0, std::chrono::duration_cast<Millis>(to - from).count());
}

// One connection of the connections list, copied under the lock and rendered after it.
struct ConnectionEntry {
    uint64_t id;
    int32_t backend_pid;
    const char *state;  // "idle", "in_use" or "checking"
    int64_t age_ms;
    int64_t idle_ms;
    int64_t uses;
    bool labelled;
    std::string label;
    int64_t held_ms;
};

}  // namespace

// ----- bookkeeping used by the rest of the pool -----------------------------------------------

void Pool::note_identity(Slot &slot, uint64_t drain_epoch) {
    slot.connection_id = connector_->connection_id(*slot.connection);
    slot.backend_pid = connector_->backend_pid(*slot.connection);
    slot.drain_epoch = drain_epoch;
    slot.last_released_at = slot.created_at;
}

// A slot from before the latest drain, once leased: retired instead of kept. (One that was never
// leased was either idle, and closed by the drain itself, or still connecting when the drain
// came: that one is used once, as the drain's documentation says.)
bool Pool::drained_locked(const Slot &slot) const {
    return slot.use_count > 0 && slot.drain_epoch != drain_epoch_.load(std::memory_order_relaxed);
}

Error Pool::paused_timeout_locked(int64_t timeout_ms) const {
    return {CONNPOOL_ERR_TIMEOUT, "timed out after " + std::to_string(timeout_ms) +
                                      " ms waiting for a connection: the pool is paused "
                                      "(connpool_pool_resume ends the pause) (" +
                                      describe_state_locked() + ")"};
}

// Idle connections go to the waiters in their order (after a pause, or a resize).
void Pool::serve_waiters_locked() {
    while (!paused_ && !idle_.empty() && waiters_.head() != nullptr) {
        Waiter &head = *waiters_.head();
        waiters_.remove(head);
        grant_locked(head, take_idle_locked(), coarse_now());
    }
}

// ----- resize ---------------------------------------------------------------------------------

connpool_status Pool::resize(int64_t min_size, int64_t max_size, Error *error) {
    const std::string problem = size_problem(min_size, max_size);
    if (!problem.empty()) {
        if (error) *error = Error(CONNPOOL_ERR_INVALID_ARGUMENT, problem);
        return CONNPOOL_ERR_INVALID_ARGUMENT;
    }
    // Allocated unlocked: the idle stack must have room for every connection, so that returning
    // one never allocates.
    std::vector<Slot *> roomier;
    roomier.reserve(static_cast<size_t>(max_size + options_.max_overflow));
    std::vector<Slot *> to_close;
    bool changed = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return closed_error(error);
        changed = min_size != min_size_ || max_size != max_size_;
        min_size_ = min_size;
        max_size_ = max_size;
        if (roomier.capacity() > idle_.capacity()) {
            roomier.assign(idle_.begin(), idle_.end());  // within capacity: no allocation
            idle_.swap(roomier);
        }
        // Idle connections above the new max go now, those idle the longest first; leased ones
        // above it go when released (return_to_pool_locked).
        while (total_ > max_size_ && !idle_.empty()) {
            to_close.push_back(discard_locked(idle_.front(), &counters_.closed_overflow));
            idle_.erase(idle_.begin());
        }
        if (changed) count(counters_.resizes);
        schedule_opens_locked(Clock::now());
        ready_cv_.notify_all();  // wait_ready compares with min_size
    }
    if (changed) log_->info("resized to min_size {}, max_size {}", min_size, max_size);
    if (!to_close.empty()) log_->debug("resize closed {} idle connection(s)", to_close.size());
    for (Slot *slot : to_close) delete slot;
    return CONNPOOL_OK;
}

// ----- pause / resume -------------------------------------------------------------------------

connpool_status Pool::pause(Error *error) {
    bool was_paused = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return closed_error(error);
        was_paused = paused_;
        paused_ = true;
    }
    if (!was_paused) log_->info("paused: no connection is handed out until resumed");
    return CONNPOOL_OK;
}

connpool_status Pool::resume(Error *error) {
    bool was_paused = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return closed_error(error);
        was_paused = paused_;
        paused_ = false;
        serve_waiters_locked();
        schedule_opens_locked(Clock::now());  // for the waiters idle connections did not serve
    }
    if (was_paused) log_->info("resumed");
    return CONNPOOL_OK;
}

// ----- drain ----------------------------------------------------------------------------------

connpool_status Pool::drain(Error *error) {
    std::vector<Slot *> to_close;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return closed_error(error);
        drain_epoch_.fetch_add(1, std::memory_order_relaxed);
        count(counters_.drains);
        to_close.reserve(idle_.size());
        for (Slot *slot : idle_)
            to_close.push_back(discard_locked(slot, &counters_.closed_drained));
        idle_.clear();  // keeps its capacity
        schedule_opens_locked(Clock::now());
    }
    log_->info("drain: closed {} idle connection(s); leased ones close when released",
               to_close.size());
    for (Slot *slot : to_close) delete slot;
    return CONNPOOL_OK;
}

// ----- check ----------------------------------------------------------------------------------

// The next of `candidates` (the idle slots when the check began) still idle, taken out of the
// idle set; null when none is left. Candidates are only compared, never dereferenced: one may
// have been closed since.
Slot *Pool::take_idle_to_check_locked(const std::vector<Slot *> &candidates, size_t &next) {
    while (next < candidates.size()) {
        const auto found = std::find(idle_.begin(), idle_.end(), candidates[next++]);
        if (found == idle_.end()) continue;  // leased or closed meanwhile
        Slot *slot = *found;
        idle_.erase(found);
        return slot;
    }
    return nullptr;
}

connpool_status Pool::check(int64_t &closed, Error *error) {
    closed = 0;
    std::lock_guard<std::mutex> one_at_a_time(check_mutex_);
    std::vector<Slot *> candidates;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return closed_error(error);
        candidates.assign(idle_.begin(), idle_.end());
    }
    size_t next = 0;
    for (;;) {
        Slot *slot = nullptr;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (closed_) break;
            slot = take_idle_to_check_locked(candidates, next);
            if (slot == nullptr) break;
            checking_ = slot;
        }
        const bool alive =
            connector_->looks_alive(*slot->connection) &&
            connector_->ping(*slot->connection, deadline_after(options_.health_check_timeout_ms));
        count(counters_.keepalive_checks);
        Slot *to_close = nullptr;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            checking_ = nullptr;
            const TimePoint now = Clock::now();
            if (!alive) {
                count(counters_.keepalive_failures);
                to_close = discard_locked(slot, &counters_.closed_broken);
                ++closed;
            } else if (slot->drain_epoch != drain_epoch_.load(std::memory_order_relaxed)) {
                to_close = discard_locked(slot, &counters_.closed_drained);  // drained meanwhile
            } else {
                to_close = return_to_pool_locked(slot, now, false);
            }
            schedule_opens_locked(now);
        }
        if (!alive) log_->info("check: an idle connection was dead; closed it");
        delete to_close;
    }
    return CONNPOOL_OK;
}

// ----- what the connections are ---------------------------------------------------------------

LeaseInfo Pool::lease_info(const Slot &slot) const {
    LeaseInfo info;
    info.connection_id = slot.connection_id;
    info.backend_pid = slot.backend_pid;
    info.created_at = slot.created_at;
    std::lock_guard<std::mutex> lock(mutex_);
    info.last_used_at = slot.last_released_at;
    info.use_count = slot.use_count;
    info.is_new = slot.use_count <= 1;
    return info;
}

std::string Pool::connections_json() const {
    std::vector<ConnectionEntry> entries;
    bool paused = false;
    int64_t min_size = 0, max_size = 0, opening = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const TimePoint now = Clock::now();
        paused = paused_;
        min_size = min_size_;
        max_size = max_size_;
        opening = opening_;
        entries.reserve(static_cast<size_t>(total_));
        for (const Slot *slot : idle_) {
            entries.push_back({slot->connection_id,
                               slot->backend_pid,
                               "idle",
                               ms_between(slot->created_at, now),
                               ms_between(slot->idle_since, now),
                               slot->use_count,
                               false,
                               {},
                               0});
        }
        for (const LeaseRecord *l = leases_.head(); l != nullptr; l = l->leased_next) {
            const auto *slot = static_cast<const Slot *>(l);
            entries.push_back({slot->connection_id, slot->backend_pid, "in_use",
                               ms_between(slot->created_at, now), 0, slot->use_count,
                               !slot->label.empty(), slot->label,
                               ms_between(slot->leased_since, now)});
        }
        if (checking_ != nullptr) {
            entries.push_back({checking_->connection_id,
                               checking_->backend_pid,
                               "checking",
                               ms_between(checking_->created_at, now),
                               0,
                               checking_->use_count,
                               false,
                               {},
                               0});
        }
    }
    std::string json = "{\"pool\":\"" + json_escape(options_.name) +
                       "\",\"paused\":" + (paused ? "true" : "false") +
                       ",\"min_size\":" + std::to_string(min_size) +
                       ",\"max_size\":" + std::to_string(max_size) + ",\"connections\":[";
    for (size_t i = 0; i < entries.size(); ++i) {
        const ConnectionEntry &e = entries[i];
        if (i > 0) json += ',';
        json += "{\"id\":" + std::to_string(e.id) + ",\"state\":\"" + e.state +
                "\",\"backend_pid\":" + std::to_string(e.backend_pid) +
                ",\"age_ms\":" + std::to_string(e.age_ms) +
                ",\"idle_ms\":" + std::to_string(e.idle_ms) +
                ",\"uses\":" + std::to_string(e.uses) + ",\"label\":" +
                (e.labelled ? "\"" + json_escape(e.label) + "\"" : std::string("null")) +
                ",\"held_ms\":" + std::to_string(e.held_ms) + "}";
    }
    json += "],\"opening\":" + std::to_string(opening) + "}";
    return json;
}

}  // namespace connpool
