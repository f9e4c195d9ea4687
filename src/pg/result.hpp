// The outcome of one statement, owned: what a connpool_result handle points to. Its header
// does not include libpq, so the C API layer can read results without seeing it.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.hpp"

struct pg_result;  // libpq's PGresult

namespace connpool {

class QueryResult {
  public:
    explicit QueryResult(pg_result *result);  // takes ownership
    ~QueryResult();
    QueryResult(const QueryResult &) = delete;
    QueryResult &operator=(const QueryResult &) = delete;

    connpool_status status() const { return status_; }
    const std::string &error_message() const { return error_message_; }
    const std::string &sqlstate() const { return sqlstate_; }
    int64_t affected_rows() const { return affected_rows_; }
    int64_t rows() const { return rows_; }
    int32_t columns() const { return columns_; }
    bool in_range(int64_t row, int32_t column) const {
        return row >= 0 && row < rows_ && column >= 0 && column < columns_;
    }
    // Out of range: nullptr, 0 or -1, as the C API documents.
    const char *column_name(int32_t column) const;
    uint32_t column_type(int32_t column) const;
    int32_t is_null(int64_t row, int32_t column) const;
    const char *value(int64_t row, int32_t column) const;
    int64_t value_length(int64_t row, int32_t column) const;

  private:
    pg_result *result_;
    int64_t rows_ = 0;
    int32_t columns_ = 0;
    connpool_status status_ = CONNPOOL_OK;
    std::string error_message_;
    std::string sqlstate_;
    int64_t affected_rows_ = -1;
};

}  // namespace connpool
