// Detecting that we run in a child after fork(): the child must never use or close the
// parent's connections (closing would end the parent's sessions) nor wait on threads that do
// not exist there. A pthread_atfork handler bumps a process-wide generation; each pool
// remembers the generation it was created in. Checking costs one atomic load, no getpid().
#pragma once

#include <cstdint>

namespace connpool {

// Installs the atfork handler (once per process).
void install_fork_guard();
// Incremented in every child right after fork().
uint64_t fork_generation();

}  // namespace connpool
