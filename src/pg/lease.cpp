#include "pg/lease.hpp"

#include <typeinfo>

#include "pg/connector.hpp"
#include "pg/libpq_helpers.hpp"
#include "pg/session_reset.hpp"

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

KeepSession keep_session_settings(PgConnection &pg, std::string &message) {
    if (pg.statement().active) {
        message = "a statement sent with connpool_lease_send is still pending; collect it first";
        return KeepSession::statement_pending;
    }
    PGresult *result = PQexec(pg.get(), kSessionBaselineQuery);
    KeepSession outcome = KeepSession::kept;
    if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) == 1) {
        pg.keep_session(PQgetvalue(result, 0, 0));
    } else {
        message = trimmed(PQresultErrorMessage(result));
        if (message.empty()) message = trimmed(PQerrorMessage(pg.get()));
        outcome = PQstatus(pg.get()) == CONNECTION_OK ? KeepSession::query_failed
                                                      : KeepSession::connection_broken;
    }
    PQclear(result);
    return outcome;
}

CancelOutcome cancel_statement(const PgConnection &pg, std::string &message) {
    return pg.cancel(message);
}

}  // namespace connpool
