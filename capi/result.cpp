// connpool_result_*: reading a statement's outcome.
#include "handles.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

// Calls `read` with the live QueryResult behind `handle`, or returns `invalid`.
template <class T, class Read>
T with_result(const connpool_result *handle, T invalid, Read &&read) {
    auto ref = HandleRegistry::instance().lookup(token_of(handle), HandleKind::result);
    if (!ref) {
        misuse(CONNPOOL_ERR_INVALID_HANDLE);
        return invalid;
    }
    return read(*ref.get<QueryResult>());
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_result_status(const connpool_result *result) {
    return with_result(result, CONNPOOL_ERR_INVALID_HANDLE,
                       [](const QueryResult &r) { return r.status(); });
}

CONNPOOL_API const char *connpool_result_error_message(const connpool_result *result) {
    return with_result(result, static_cast<const char *>(nullptr),
                       [](const QueryResult &r) { return r.error_message().c_str(); });
}

CONNPOOL_API const char *connpool_result_sqlstate(const connpool_result *result) {
    return with_result(result, static_cast<const char *>(nullptr),
                       [](const QueryResult &r) { return r.sqlstate().c_str(); });
}

CONNPOOL_API int64_t connpool_result_row_count(const connpool_result *result) {
    return with_result(result, int64_t{-1}, [](const QueryResult &r) { return r.rows(); });
}

CONNPOOL_API int32_t connpool_result_column_count(const connpool_result *result) {
    return with_result(result, int32_t{-1}, [](const QueryResult &r) { return r.columns(); });
}

CONNPOOL_API int64_t connpool_result_affected_rows(const connpool_result *result) {
    return with_result(result, int64_t{-1}, [](const QueryResult &r) { return r.affected_rows(); });
}

CONNPOOL_API const char *connpool_result_column_name(const connpool_result *result,
                                                     int32_t column) {
    return with_result(result, static_cast<const char *>(nullptr),
                       [&](const QueryResult &r) { return r.column_name(column); });
}

CONNPOOL_API uint32_t connpool_result_column_type(const connpool_result *result, int32_t column) {
    return with_result(result, uint32_t{0},
                       [&](const QueryResult &r) { return r.column_type(column); });
}

CONNPOOL_API int32_t connpool_result_is_null(const connpool_result *result, int64_t row,
                                             int32_t column) {
    return with_result(result, int32_t{-1},
                       [&](const QueryResult &r) { return r.is_null(row, column); });
}

CONNPOOL_API const char *connpool_result_value(const connpool_result *result, int64_t row,
                                               int32_t column) {
    return with_result(result, static_cast<const char *>(nullptr),
                       [&](const QueryResult &r) { return r.value(row, column); });
}

CONNPOOL_API int64_t connpool_result_value_length(const connpool_result *result, int64_t row,
                                                  int32_t column) {
    return with_result(result, int64_t{-1},
                       [&](const QueryResult &r) { return r.value_length(row, column); });
}

CONNPOOL_API connpool_status connpool_result_free(connpool_result *result) {
    if (result == nullptr) return CONNPOOL_OK;
    try {
        return retire<QueryResult>(HandleKind::result, result)
                   ? CONNPOOL_OK
                   : misuse(CONNPOOL_ERR_INVALID_HANDLE);
    } catch (...) {
        return CONNPOOL_ERR_INTERNAL;
    }
}

}  // extern "C"
