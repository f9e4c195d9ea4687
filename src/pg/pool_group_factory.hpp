// The composition root of a pool group: a multi-host conninfo -> one PostgreSQL pool per host,
// and the probe that tells a primary from a standby and measures a standby's replay lag.
#pragma once

#include <memory>

#include "core/error.hpp"
#include "core/pool_group.hpp"
#include "pg/settings.hpp"

namespace connpool {

// Checks `conninfo` (no connection is opened here) and creates the group; every node pool
// gets `settings`, named "<name>@host:port". On failure `out` is untouched and the error never
// quotes the password.
Error create_pg_group(const char *conninfo, const PoolSettings &settings,
                      std::shared_ptr<PoolGroup> &out);

}  // namespace connpool
