// The handle table: stale tokens are refused, generations advance, retire waits for users.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

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

}  // namespace
}  // namespace connpool
