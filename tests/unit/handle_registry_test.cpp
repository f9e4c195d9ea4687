// The handle table: stale tokens are refused, generations advance, retire waits for users.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "handle_registry.hpp"

namespace connpool {
namespace {

TEST(HandleRegistry, TokenIsLiveOnlyDuringOneLife) {
    HandleRegistry &r = HandleRegistry::instance();
    int object = 42;
    const uint32_t cell = r.allocate_cell(HandleKind::result);
    const auto first = r.publish(cell, &object);
    EXPECT_NE(first >> 63, 0u) << "tokens are non-canonical addresses";
    {
        auto ref = r.lookup(first, HandleKind::result);
        ASSERT_TRUE(ref);
        EXPECT_EQ(*ref.get<int>(), 42);
    }
    EXPECT_FALSE(r.lookup(first, HandleKind::lease)) << "wrong kind";
    EXPECT_EQ(r.retire(first, HandleKind::result, false), &object);
    EXPECT_FALSE(r.lookup(first, HandleKind::result));
    EXPECT_EQ(r.retire(first, HandleKind::result, false), nullptr);
    const auto second = r.publish(cell, &object);  // same cell, next life
    EXPECT_NE(second, first);
    EXPECT_FALSE(r.lookup(first, HandleKind::result));
    EXPECT_TRUE(r.lookup(second, HandleKind::result));
    EXPECT_EQ(r.retire(second, HandleKind::result, true), &object);
}

TEST(HandleRegistry, RetireWaitsForReferencesToDrain) {
    HandleRegistry &r = HandleRegistry::instance();
    int object = 7;
    const auto token = r.publish(r.allocate_cell(HandleKind::options), &object);
    std::atomic<bool> retired{false};
    std::thread retirer;
    {
        auto ref = r.lookup(token, HandleKind::options);
        ASSERT_TRUE(ref);
        retirer = std::thread([&] {
            EXPECT_EQ(r.retire(token, HandleKind::options, true), &object);
            retired = true;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_FALSE(retired.load()) << "retired while a reference was held";
        EXPECT_FALSE(r.lookup(token, HandleKind::options)) << "no new references while retiring";
    }
    retirer.join();
    EXPECT_TRUE(retired.load());
}

TEST(HandleRegistry, ThreadCachedCellsAreReusedAndReturnedWhenTheThreadExits) {
    HandleRegistry &r = HandleRegistry::instance();
    const size_t before = r.cells_in_use();
    std::thread([&] {
        // A cell freed on this thread is the next one it gets: no shared list involved.
        const uint32_t cell = r.allocate_cell(HandleKind::result);
        r.free_cell(cell);
        EXPECT_EQ(r.allocate_cell(HandleKind::result), cell);
        r.free_cell(cell);
        // More cells than the thread keeps: the rest go back to the shared list.
        std::vector<uint32_t> cells;
        for (int i = 0; i < 100; ++i) cells.push_back(r.allocate_cell(HandleKind::result));
        EXPECT_EQ(r.cells_in_use(), before + 100);
        for (uint32_t c : cells) r.free_cell(c);
        EXPECT_EQ(r.cells_in_use(), before);
    }).join();
    EXPECT_EQ(r.cells_in_use(), before) << "the exited thread's cached cells are free";
    // Allocated on one thread, freed on another (a result freed by another thread).
    uint32_t moved = 0;
    std::thread([&] { moved = r.allocate_cell(HandleKind::result); }).join();
    EXPECT_EQ(r.cells_in_use(), before + 1);
    r.free_cell(moved);
    EXPECT_EQ(r.cells_in_use(), before);
}

}  // namespace
}  // namespace connpool
