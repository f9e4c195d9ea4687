#include "core/fork_guard.hpp"

#include <pthread.h>

#include <atomic>
#include <mutex>

namespace connpool {
namespace {

std::atomic<uint64_t> generation{0};

void in_child() {
    generation.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void install_fork_guard() {
    static std::once_flag once;
    std::call_once(once, [] { pthread_atfork(nullptr, nullptr, &in_child); });
}

uint64_t fork_generation() {
    return generation.load(std::memory_order_relaxed);
}

}  // namespace connpool
