#include "core/connection_budget.hpp"

#include <vector>

namespace connpool {

void ConnectionBudget::set_limit(int64_t limit) {
    bool room;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        limit_ = limit;
        room = limit_ == 0 || held_ < limit_;
    }
    if (room) notify_waiting();
}

int64_t ConnectionBudget::limit() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
}

int64_t ConnectionBudget::held() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_;
}

void ConnectionBudget::join(BudgetMember &member) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (find_locked(member) == nullptr) members_.push_back({&member});
}

void ConnectionBudget::leave(BudgetMember &member) {
    std::unique_lock<std::mutex> lock(mutex_);
    Entry *entry = find_locked(member);
    if (entry == nullptr) return;
    calls_done_.wait(lock, [entry] { return entry->calls_in_flight == 0; });
    members_.remove_if([&](const Entry &e) { return e.member == &member; });
}

ConnectionBudget::Entry *ConnectionBudget::find_locked(BudgetMember &member) {
    for (Entry &entry : members_) {
        if (entry.member == &member) return &entry;
    }
    return nullptr;
}

bool ConnectionBudget::take_locked() {
    if (limit_ != 0 && held_ >= limit_) return false;
    ++held_;
    return true;
}

template <class Pick, class Call>
bool ConnectionBudget::call_members(Pick pick, Call call, size_t rotation) {
    std::vector<Entry *> picked;
    std::unique_lock<std::mutex> lock(mutex_);
    for (Entry &entry : members_) {
        if (!pick(entry)) continue;
        picked.push_back(&entry);
        ++entry.calls_in_flight;  // leave() waits for it: the member stays alive
    }
    lock.unlock();
    bool done = false;
    for (size_t i = 0; i < picked.size() && !done; ++i) {
        done = call(*picked[(i + rotation) % picked.size()]->member);
    }
    lock.lock();
    for (Entry *entry : picked) --entry->calls_in_flight;
    calls_done_.notify_all();
    return done;
}

// `other` closed an idle connection for us: its permit is ours, unless the budget was lowered
// below what is open, in which case the closed connection only brings the count down.
bool ConnectionBudget::reclaim_from(BudgetMember &other) {
    if (!other.give_up_idle_connection()) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (limit_ == 0 || held_ <= limit_) return true;
    --held_;
    return false;
}

bool ConnectionBudget::take(BudgetMember &self, bool may_reclaim) {
    size_t rotation = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (take_locked()) return true;
        rotation = next_victim_++;
    }
    // Start with a different member each time, so that the same pool's idle connections are
    // not always the first to go.
    if (may_reclaim &&
        call_members([&](const Entry &entry) { return entry.member != &self; },
                     [&](BudgetMember &other) { return reclaim_from(other); }, rotation)) {
        return true;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (take_locked()) return true;  // given back meanwhile
    if (Entry *entry = find_locked(self)) entry->waiting = true;
    return false;
}

void ConnectionBudget::give_back() {
    bool room;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        --held_;
        room = limit_ == 0 || held_ < limit_;
    }
    if (room) notify_waiting();
}

void ConnectionBudget::notify_waiting() {
    call_members(
        [](Entry &entry) {
            const bool waiting = entry.waiting;
            entry.waiting = false;
            return waiting;
        },
        [](BudgetMember &member) {
            member.budget_permit_freed();
            return false;  // tell every one of them
        },
        0);
}

}  // namespace connpool
