// One statement through libpq's PQexecParams, and the owned result it produces.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <libpq-fe.h>

#include "error.hpp"

namespace connpool {

class QueryResult {
  public:
    explicit QueryResult(PGresult *result);
    ~QueryResult() { PQclear(result_); }
    QueryResult(const QueryResult &) = delete;
    QueryResult &operator=(const QueryResult &) = delete;

    connpool_status status() const { return status_; }
    const std::string &error_message() const { return error_message_; }
    const std::string &sqlstate() const { return sqlstate_; }
    int64_t affected_rows() const { return affected_rows_; }
    int64_t rows() const { return PQntuples(result_); }
    int32_t columns() const { return PQnfields(result_); }
    bool in_range(int64_t row, int32_t column) const {
        return row >= 0 && row < rows() && column >= 0 && column < columns();
    }
    PGresult *get() const { return result_; }

  private:
    PGresult *result_;
    connpool_status status_ = CONNPOOL_OK;
    std::string error_message_;
    std::string sqlstate_;
    int64_t affected_rows_ = -1;
};

// Runs `sql` with text parameters. Returns OK or QUERY_FAILED with `out` set, or
// CONNECTION_BROKEN / NO_MEMORY with `out` empty; `error` gets the details on failure.
connpool_status run_query(PGconn *conn, const char *sql, int32_t n_params,
                          const char *const *params, std::unique_ptr<QueryResult> &out,
                          Error &error);

}  // namespace connpool
