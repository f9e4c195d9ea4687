// A connection outside any shared pool (connpool_connect): a private pool of one connection,
// acquired once and then let go of, so that the lease is an ordinary one (statements, cancel,
// info) and releasing it closes the connection and frees the private pool with it.
#pragma once

#include "core/error.hpp"
#include "core/pool.hpp"
#include "pg/settings.hpp"

namespace connpool {

// Opens the connection within the connect_timeout option (init_sql included) and returns its
// leased slot in `out`. The sizing options of `settings` do not apply. Errors:
// INVALID_ARGUMENT (conninfo or options), CONNECT_FAILED (the server's SQLSTATE in the error
// when it sent one), TIMEOUT; none quotes the password.
Error open_direct_connection(const char *conninfo, const PoolSettings &settings, Slot *&out);

}  // namespace connpool
