// A connection budget shared by several pools: the connections they have open or are opening,
// together, never exceed a limit. Each pool takes a permit before it starts a connect and gives
// it back when that connection is closed (or the connect failed); only connect and close touch
// the budget, never acquire or release.
//
// A pool whose acquirers wait while the budget is spent may have another member pool close one
// of its idle connections: that connection's permit passes to the asking pool without going
// back to the budget, so nobody else can take it in between. A pool that got no permit is
// remembered and told when one is given back (BudgetMember::budget_permit_freed).
//
// Locking: the budget's mutex is a leaf. It is never held while calling into a member, and
// members never call the budget with their own pool lock held, so two pools asking each other
// for idle connections cannot deadlock. leave() waits for calls in flight into that member.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>

namespace connpool {

// A pool as the budget sees it. Both calls are made with no budget or pool lock held.
class BudgetMember {
  public:
    BudgetMember() = default;
    BudgetMember(const BudgetMember &) = delete;
    BudgetMember &operator=(const BudgetMember &) = delete;
    // Closes one idle connection (if there is one and no acquirer of this member waits for it)
    // and keeps its permit back from the budget: the caller now holds it. True if it did.
    virtual bool give_up_idle_connection() = 0;
    // A permit was given back or the limit was raised since this member last failed to take
    // one: try again.
    virtual void budget_permit_freed() = 0;

    virtual ~BudgetMember() = default;
};

class ConnectionBudget {
  public:
    ConnectionBudget() = default;
    ConnectionBudget(const ConnectionBudget &) = delete;
    ConnectionBudget &operator=(const ConnectionBudget &) = delete;

    // 0 turns the limit off (permits are still counted, so a limit set later knows what is
    // open). Lowering it closes nothing: permits are refused until the count is below it.
    void set_limit(int64_t limit);
    int64_t limit() const;
    // Permits held: connections open or being opened by members (and by former members whose
    // connections are still open).
    int64_t held() const;

    void join(BudgetMember &member);
    // Removes `member`, waiting until no call into it is in flight. Must not be called with
    // that member's pool lock held. Idempotent.
    void leave(BudgetMember &member);

    // Takes a permit for one connect. When the budget is spent and `may_reclaim` (the caller
    // has acquirers waiting), asks the other members in turn to give up an idle connection.
    // False: no permit; `self` is told through budget_permit_freed() when one frees up.
    bool take(BudgetMember &self, bool may_reclaim);
    // A connection that held a permit is closed, or its connect failed.
    void give_back();

  private:
    struct Entry {
        BudgetMember *member;
        int64_t calls_in_flight = 0;
        bool waiting = false;  // failed to take a permit; to be told when one frees
    };
    bool take_locked();
    Entry *find_locked(BudgetMember &member);
    // Calls `call` on the members picked by `pick` (under the lock), each with the lock
    // released and protected from leave(), starting with the `rotation`th; stops early when
    // `call` returns true.
    template <class Pick, class Call>
    bool call_members(Pick pick, Call call, size_t rotation);
    bool reclaim_from(BudgetMember &other);
    void notify_waiting();

    mutable std::mutex mutex_;
    std::condition_variable calls_done_;
    int64_t limit_ = 0;
    int64_t held_ = 0;
    std::list<Entry> members_;  // a list: entries stay put while called unlocked
    size_t next_victim_ = 0;    // round robin over members asked to give up a connection
};

}  // namespace connpool
