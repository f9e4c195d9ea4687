#include "pg_query.hpp"

#include <charconv>
#include <cstring>

namespace connpool {
namespace {

std::string trimmed(const char *message) {
    std::string text = message != nullptr ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace

QueryResult::QueryResult(PGresult *result) : result_(result) {
    switch (PQresultStatus(result)) {
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
            break;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            status_ = CONNPOOL_ERR_QUERY_FAILED;
            error_message_ =
                "COPY is not supported by connpool_lease_exec; use the raw PGconn "
                "(connpool_lease_pgconn). The connection is closed when released.";
            break;
        default: {
            status_ = CONNPOOL_ERR_QUERY_FAILED;
            error_message_ = trimmed(PQresultErrorMessage(result));
            const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
            sqlstate_ = state != nullptr ? state : "";
        }
    }
    const char *tuples = PQcmdTuples(result);
    int64_t n = 0;
    const char *end = tuples + std::strlen(tuples);
    if (*tuples != '\0' && std::from_chars(tuples, end, n).ptr == end) affected_rows_ = n;
}

connpool_status run_query(PGconn *conn, const char *sql, int32_t n_params,
                          const char *const *params, std::unique_ptr<QueryResult> &out,
                          Error &error) {
    PGresult *raw = PQexecParams(conn, sql, n_params, nullptr, params, nullptr, nullptr, 0);
    if (raw == nullptr || PQstatus(conn) == CONNECTION_BAD) {
        error = Error(CONNPOOL_ERR_CONNECTION_BROKEN,
                      "connection lost: " + trimmed(PQerrorMessage(conn)) +
                          "; release the lease (the pool replaces the connection) and retry",
                      raw != nullptr ? trimmed(PQresultErrorField(raw, PG_DIAG_SQLSTATE)) : "");
        PQclear(raw);
        return CONNPOOL_ERR_CONNECTION_BROKEN;
    }
    out = std::make_unique<QueryResult>(raw);
    if (out->status() != CONNPOOL_OK) {
        error = Error(out->status(), out->error_message(), out->sqlstate());
    }
    return out->status();
}

}  // namespace connpool
