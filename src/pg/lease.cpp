#include "pg/lease.hpp"

#include <typeinfo>

#include "pg/connector.hpp"

namespace connpool {

// PgConnection is final, so comparing types is exact, and cheaper than a dynamic_cast (which
// searches the class hierarchy on every statement call).
PgConnection *as_pg(Connection *connection) {
    if (connection == nullptr || typeid(*connection) != typeid(PgConnection)) return nullptr;
    return static_cast<PgConnection *>(connection);
}

int32_t socket_of(const PgConnection &pg) {
    return PQsocket(pg.get());
}

uint64_t connection_id(const PgConnection &pg) {
    return pg.id();
}

int32_t transaction_status(const PgConnection &pg) {
    return static_cast<int32_t>(PQtransactionStatus(pg.get()));
}

void *take_raw_pgconn(PgConnection &pg) {
    pg.mark_raw_use();
    return pg.get();
}

CancelOutcome cancel_statement(const PgConnection &pg, std::string &message) {
    return pg.cancel(message);
}

}  // namespace connpool
