// The pool's FIFO list of waiters, on its own: no pool, no threads.
#include <gtest/gtest.h>

#include <vector>

#include "core/waiter_queue.hpp"

namespace connpool {
namespace {

// The waiters from head to tail, checking the backward links on the way.
std::vector<Waiter *> order(const WaiterQueue &queue) {
    std::vector<Waiter *> seen;
    Waiter *prev = nullptr;
    for (Waiter *w = queue.head(); w != nullptr; w = w->next) {
        EXPECT_EQ(w->prev, prev);
        EXPECT_TRUE(w->linked);
        seen.push_back(w);
        prev = w;
    }
    return seen;
}

AsyncAcquire *fake_async() {
    // Only compared with null by the queue: never dereferenced.
    static int token;
    return reinterpret_cast<AsyncAcquire *>(&token);
}

TEST(WaiterQueue, StartsEmpty) {
    WaiterQueue queue;
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.head(), nullptr);
    EXPECT_EQ(queue.size(), 0);
    EXPECT_EQ(queue.async_size(), 0);
    EXPECT_FALSE(queue.head_wants_handoff());
}

TEST(WaiterQueue, ServesFirstComeFirstServed) {
    WaiterQueue queue;
    Waiter a, b, c;
    queue.push_back(a);
    queue.push_back(b);
    queue.push_back(c);
    EXPECT_EQ(order(queue), (std::vector<Waiter *>{&a, &b, &c}));
    EXPECT_EQ(queue.size(), 3);
    queue.remove(*queue.head());
    EXPECT_FALSE(a.linked);
    EXPECT_EQ(a.prev, nullptr);
    EXPECT_EQ(a.next, nullptr);
    EXPECT_EQ(order(queue), (std::vector<Waiter *>{&b, &c}));
    queue.remove(*queue.head());
    queue.remove(*queue.head());
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.size(), 0);
}

TEST(WaiterQueue, FirstInLineGoesBeforeEveryone) {
    WaiterQueue queue;
    Waiter a, b, again;
    queue.push_front(again);  // into an empty queue: head and tail
    EXPECT_EQ(order(queue), (std::vector<Waiter *>{&again}));
    queue.remove(again);
    queue.push_back(a);
    queue.push_back(b);
    queue.push_front(again);
    EXPECT_EQ(order(queue), (std::vector<Waiter *>{&again, &a, &b}));
    // The tail is still b: a newcomer goes after it.
    Waiter c;
    queue.push_back(c);
    EXPECT_EQ(order(queue), (std::vector<Waiter *>{&again, &a, &b, &c}));
    EXPECT_EQ(queue.size(), 4);
}

TEST(WaiterQueue, RemovesFromTheMiddleAndTheTail) {
    WaiterQueue queue;
    Waiter a, b, c;
    queue.push_back(a);
    queue.push_back(b);
    queue.push_back(c);
    queue.remove(b);
    EXPECT_EQ(order(queue), (std::vector<Waiter *>{&a, &c}));
    queue.remove(c);
    EXPECT_EQ(order(queue), (std::vector<Waiter *>{&a}));
    Waiter d;  // the tail moved back to a
    queue.push_back(d);
    EXPECT_EQ(order(queue), (std::vector<Waiter *>{&a, &d}));
    EXPECT_EQ(queue.size(), 2);
}

TEST(WaiterQueue, CountsAsynchronousWaiters) {
    WaiterQueue queue;
    Waiter blocking, async1, async2;
    async1.async = async2.async = fake_async();
    queue.push_back(blocking);
    queue.push_back(async1);
    queue.push_front(async2);
    EXPECT_EQ(queue.size(), 3);
    EXPECT_EQ(queue.async_size(), 2);
    queue.remove(async1);
    EXPECT_EQ(queue.async_size(), 1);
    queue.remove(blocking);
    EXPECT_EQ(queue.size(), 1);
    EXPECT_EQ(queue.async_size(), 1);
    queue.remove(async2);
    EXPECT_EQ(queue.async_size(), 0);
}

TEST(WaiterQueue, HandOffIsAskedByTheHeadOnly) {
    WaiterQueue queue;
    Waiter windowed, handoff;
    handoff.wants_handoff = true;
    queue.push_back(windowed);
    queue.push_back(handoff);
    EXPECT_FALSE(queue.head_wants_handoff());
    queue.remove(windowed);
    EXPECT_TRUE(queue.head_wants_handoff());
}

TEST(WaiterQueue, RemovingWhileIteratingWithSavedNext) {
    WaiterQueue queue;
    Waiter w[4];
    for (Waiter &each : w) queue.push_back(each);
    for (Waiter *it = queue.head(), *next; it != nullptr; it = next) {
        next = it->next;
        queue.remove(*it);
    }
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.size(), 0);
    for (const Waiter &each : w) EXPECT_FALSE(each.linked);
}

}  // namespace
}  // namespace connpool
