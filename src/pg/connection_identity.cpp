// Run-time operations: who a libpq connection is (connpool_lease_get_info, the connections
// list). No I/O: both are known once the connection is established.
#include <libpq-fe.h>

#include "pg/connector.hpp"

namespace connpool {

uint64_t PgConnector::connection_id(Connection &connection) {
    return static_cast<PgConnection &>(connection).id();
}

int32_t PgConnector::backend_pid(Connection &connection) {
    return PQbackendPID(static_cast<PgConnection &>(connection).get());
}

}  // namespace connpool
