#include "pg/result.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstring>

#include "pg/libpq_helpers.hpp"

namespace connpool {

QueryResult::QueryResult(PGresult *result)
    : result_(result), rows_(PQntuples(result)), columns_(PQnfields(result)) {
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

QueryResult::~QueryResult() {
    PQclear(result_);
}

const char *QueryResult::column_name(int32_t column) const {
    return column >= 0 && column < columns_ ? PQfname(result_, column) : nullptr;
}

uint32_t QueryResult::column_type(int32_t column) const {
    return column >= 0 && column < columns_ ? static_cast<uint32_t>(PQftype(result_, column)) : 0;
}

int32_t QueryResult::is_null(int64_t row, int32_t column) const {
    return in_range(row, column) ? int32_t{PQgetisnull(result_, static_cast<int>(row), column) != 0}
                                 : -1;
}

const char *QueryResult::value(int64_t row, int32_t column) const {
    return in_range(row, column) ? PQgetvalue(result_, static_cast<int>(row), column) : nullptr;
}

int64_t QueryResult::value_length(int64_t row, int32_t column) const {
    return in_range(row, column) ? int64_t{PQgetlength(result_, static_cast<int>(row), column)}
                                 : -1;
}

}  // namespace connpool
