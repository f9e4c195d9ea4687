// The process-wide registry of named pools (connpool_registry_*), as the rest of capi sees it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/pool.hpp"

namespace connpool::capi {

struct RegisteredPool {
    std::string name;
    std::shared_ptr<Pool> pool;
};

// A snapshot of the registered pools, sorted by name. Holding it keeps the pools alive, not
// registered: a pool closed meanwhile answers as closed.
std::vector<RegisteredPool> registered_pools();

// Removes `name` from the registry if it still names `pool` (connpool_pool_close on one of its
// handles); the caller closes the pool. No effect if the name was freed or reused meanwhile.
void unregister_pool(const std::string &name, const Pool &pool);

// connpool_pool_set_conninfo gave the registered pool `name` (if it still names `pool`) a new
// conninfo: later connpool_registry_get_or_create calls are compared with that one.
void registered_conninfo_changed(const std::string &name, const Pool &pool, std::string conninfo);

}  // namespace connpool::capi
