// The pool's waiters: callers waiting for a connection, in a FIFO intrusive list.
//
// Plain data, no locking of its own: the pool's mutex guards the queue and every Waiter linked
// into it. Linking and unlinking never allocate (the Waiter lives on the caller's stack or in
// its AsyncAcquire).
#pragma once

#include <cstdint>

#include "connpool/connpool.h"
#include "core/wake_flag.hpp"

namespace connpool {

struct Slot;
class AsyncAcquire;

// A caller waiting for a connection, in the pool's FIFO list. Blocking acquirers keep it on
// their stack and sleep on `wake`; asynchronous ones keep it in their AsyncAcquire.
struct Waiter {
    Waiter *prev = nullptr;
    Waiter *next = nullptr;
    Slot *slot = nullptr;                   // set by whoever hands it a connection (and, for a
                                            // blocking waiter, made its lease: Pool::grant_locked)
    AsyncAcquire *async = nullptr;          // null for a blocking acquirer
    connpool_status refused = CONNPOOL_OK;  // set (with no slot) when the breaker fails it fast
    bool linked = false;                    // in the pool's waiter list
    int64_t released_before = 0;            // the pool's release count when the window began
    bool wants_handoff = false;  // releases hand it their connection (async: always; blocking:
                                 // once its overtaking window has passed)
    WakeFlag wake;  // blocking acquirers only: set once, when served, refused or closed out
};

class WaiterQueue {
  public:
    // Queues `waiter` last (it must not be linked).
    void push_back(Waiter &waiter) {
        waiter.prev = tail_;
        waiter.next = nullptr;
        (tail_ != nullptr ? tail_->next : head_) = &waiter;
        tail_ = &waiter;
        count_in(waiter);
    }

    // Queues `waiter` first: a waiter whose granted connection turned out dead keeps its place.
    void push_front(Waiter &waiter) {
        waiter.prev = nullptr;
        waiter.next = head_;
        (head_ != nullptr ? head_->prev : tail_) = &waiter;
        head_ = &waiter;
        count_in(waiter);
    }

    // Takes a linked `waiter` out of the list, wherever it is.
    void remove(Waiter &waiter) {
        waiter.linked = false;
        (waiter.prev != nullptr ? waiter.prev->next : head_) = waiter.next;
        (waiter.next != nullptr ? waiter.next->prev : tail_) = waiter.prev;
        waiter.prev = waiter.next = nullptr;
        --size_;
        if (waiter.async != nullptr) --async_size_;
    }

    // The oldest waiter (null if none). Iterate with Waiter::next, reading it before removing.
    Waiter *head() const { return head_; }
    bool empty() const { return head_ == nullptr; }
    // The oldest waiter asks for hand-off: releases must not leave their connection idle.
    bool head_wants_handoff() const { return head_ != nullptr && head_->wants_handoff; }
    // Waiters queued, and how many of them are asynchronous.
    int64_t size() const { return size_; }
    int64_t async_size() const { return async_size_; }

  private:
    void count_in(Waiter &waiter) {
        waiter.linked = true;
        ++size_;
        if (waiter.async != nullptr) ++async_size_;
    }

    Waiter *head_ = nullptr;
    Waiter *tail_ = nullptr;
    int64_t size_ = 0;
    int64_t async_size_ = 0;
};

}  // namespace connpool
