// Error objects, status names and version: the parts of the C API every other part uses.
#include <atomic>
#include <new>

#include "handles.hpp"
#include "statuses.hpp"

namespace connpool::capi {

namespace {
std::atomic<int64_t> misuse_count{0};
}  // namespace

connpool_status misuse(connpool_status status) noexcept {
    if (status == CONNPOOL_ERR_INVALID_ARGUMENT || status == CONNPOOL_ERR_INVALID_HANDLE) {
        misuse_count.fetch_add(1, std::memory_order_relaxed);
    }
    return status;
}

connpool_status fail(connpool_error **err, const Error &error) noexcept {
    misuse(error.status);
    if (err != nullptr && *err == nullptr) {
        try {
            *err = new connpool_error{error.status, error.message, error.sqlstate};
        } catch (...) {
            *err = nullptr;  // no memory for the details: the status still tells the story
        }
    }
    return error.status;
}

connpool_status fail(connpool_error **err, connpool_status status, const char *message) noexcept {
    if (err == nullptr || *err != nullptr) return misuse(status);
    try {
        return fail(err, Error(status, message));
    } catch (...) {
        return status;
    }
}

namespace {

// Reports `status` with the message `describe()` builds, only if the caller asked for details
// (building it costs allocations); counts misuse either way.
template <class Describe>
connpool_status refuse(connpool_error **err, connpool_status status, Describe &&describe) noexcept {
    if (err == nullptr || *err != nullptr) return misuse(status);
    try {
        return fail(err, Error(status, describe()));
    } catch (...) {
        return misuse(status);
    }
}

}  // namespace

connpool_status null_argument(connpool_error **err, const char *function,
                              const char *name) noexcept {
    return refuse(err, CONNPOOL_ERR_INVALID_ARGUMENT,
                  [&] { return std::string(function) + ": argument \"" + name + "\" is NULL"; });
}

connpool_status stale_handle(connpool_error **err, const char *function,
                             const char *kind) noexcept {
    return refuse(err, CONNPOOL_ERR_INVALID_HANDLE, [&] {
        return std::string(function) + ": the " + kind +
               " handle is not valid: it was already released or freed, or is not a " + kind +
               " handle";
    });
}

connpool_status struct_too_small(connpool_error **err, const char *function,
                                 const char *type) noexcept {
    return refuse(err, CONNPOOL_ERR_INVALID_ARGUMENT, [&] {
        return std::string(function) + ": set out->struct_size to sizeof(" + type + ")";
    });
}

connpool_status index_out_of_range(connpool_error **err, const char *function,
                                   const char *count_function) noexcept {
    return refuse(err, CONNPOOL_ERR_INVALID_ARGUMENT, [&] {
        return std::string(function) + ": index must be from 0 to " + count_function + "() - 1";
    });
}

connpool_status forked(connpool_error **err, const char *function) noexcept {
    return refuse(err, CONNPOOL_ERR_FORKED, [&] {
        return std::string(function) +
               ": this pool belongs to the parent process (we are in a child after fork()); its "
               "connections are left alone so the parent keeps them: create a new pool in the "
               "child";
    });
}

}  // namespace connpool::capi

extern "C" {

CONNPOOL_API const char *connpool_version(void) {
    return CONNPOOL_VERSION_STRING;
}

CONNPOOL_API int32_t connpool_version_number(void) {
    return CONNPOOL_VERSION_NUMBER;
}

CONNPOOL_API connpool_status connpool_error_status(const connpool_error *error) {
    return error != nullptr ? error->status : CONNPOOL_ERR_INVALID_ARGUMENT;
}

CONNPOOL_API const char *connpool_error_message(const connpool_error *error) {
    return error != nullptr ? error->message.c_str() : "";
}

CONNPOOL_API const char *connpool_error_sqlstate(const connpool_error *error) {
    return error != nullptr ? error->sqlstate.c_str() : "";
}

CONNPOOL_API void connpool_error_free(connpool_error *error) {
    delete error;
}

CONNPOOL_API const char *connpool_status_name(connpool_status status) {
    switch (status) {
#define CONNPOOL_STATUS_NAME(code, doc) \
    case code:                          \
        return #code;
        CONNPOOL_STATUS_LIST(CONNPOOL_STATUS_NAME)
#undef CONNPOOL_STATUS_NAME
        default:
            return "CONNPOOL_UNKNOWN_STATUS";
    }
}

CONNPOOL_API const char *connpool_status_description(connpool_status status) {
    switch (status) {
#define CONNPOOL_STATUS_DOC(code, doc) \
    case code:                         \
        return doc;
        CONNPOOL_STATUS_LIST(CONNPOOL_STATUS_DOC)
#undef CONNPOOL_STATUS_DOC
        default:
            return "a status this version of the library does not define";
    }
}

CONNPOOL_API void connpool_string_free(char *string) {
    delete[] string;
}

CONNPOOL_API int64_t connpool_misuse_count(void) {
    return connpool::capi::misuse_count.load(std::memory_order_relaxed);
}

}  // extern "C"
