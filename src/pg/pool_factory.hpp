// The composition root: turns a libpq connection string and settings into a pool of libpq
// connections (the generic pool over a PgConnector), and changes a running pool's conninfo.
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

// Credential rotation: checks `conninfo` as create_pg_pool does and makes the pool's new
// connects use it (open connections stay until they retire). On failure the old conninfo
// stays in force; the error never quotes the password.
Error set_pg_pool_conninfo(Pool &pool, const char *conninfo);

}  // namespace connpool
