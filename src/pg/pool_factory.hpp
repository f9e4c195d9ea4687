// The composition root: turns a libpq connection string and settings into a pool of libpq
// connections (the generic pool over a PgConnector).
#pragma once

#include <memory>

#include "core/error.hpp"
#include "core/pool.hpp"
#include "pg/settings.hpp"

namespace connpool {

// Checks `conninfo` (no connection is opened here) and creates the pool; its min_size
// connections open in the background. On failure `out` is untouched and the error never quotes
// the password. With a `budget`, the pool's connections count against it.
Error create_pg_pool(const char *conninfo, const PoolSettings &settings, std::shared_ptr<Pool> &out,
                     std::shared_ptr<ConnectionBudget> budget = nullptr);

}  // namespace connpool
