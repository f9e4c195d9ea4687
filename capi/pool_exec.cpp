// connpool_pool_exec and connpool_statement_*: multiplexed statements, run without a lease on
// the pool's shared connections (pg/multiplexer.hpp).
#include <system_error>

#include "handles.hpp"
#include "pg/multiplexer.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

struct StatementObject {
    std::shared_ptr<MuxStatement> statement;
};

HandleRegistry::Ref lookup_statement(connpool_statement *statement) {
    return HandleRegistry::instance().lookup(token_of(statement), HandleKind::statement);
}

// Checks the arguments shared by exec and exec_async (`out` already checked).
connpool_status check_arguments(const char *function, connpool_pool *pool, const char *sql,
                                int32_t n_params, const char *const *params, int64_t timeout_ms,
                                connpool_error **err) {
    if (pool == nullptr) return null_argument(err, function, "pool");
    if (sql == nullptr) return null_argument(err, function, "sql");
    if (n_params < 0 || n_params > 65535) {
        return fail(
            err, CONNPOOL_ERR_INVALID_ARGUMENT,
            (std::string(function) + ": n_params must be from 0 to 65535 (PostgreSQL's limit)")
                .c_str());
    }
    if (n_params > 0 && params == nullptr) return null_argument(err, function, "params");
    if (timeout_ms == 0) {
        return misuse(fail(err, CONNPOOL_ERR_INVALID_ARGUMENT,
                           (std::string(function) +
                            ": timeout_ms 0 leaves no time to run the statement; pass a positive "
                            "bound, or a negative value for the pool's acquire_timeout")
                               .c_str()));
    }
    return CONNPOOL_OK;
}

// Queues the statement on the pool's multiplexer: the common part of exec and exec_async.
connpool_status submit(const char *function, std::shared_ptr<MuxStatement> &out,
                       connpool_pool *pool, const char *sql, int32_t n_params,
                       const char *const *params, int64_t timeout_ms, bool wait_for_space,
                       connpool_error **err) {
    auto ref = HandleRegistry::instance().lookup(token_of(pool), HandleKind::pool);
    if (!ref) return stale_handle(err, function, "pool");
    const std::shared_ptr<Pool> &core = ref.get<PoolObject>()->pool;
    if (core->forked()) return forked(err, function);
    Error error;
    const connpool_status status =
        submit_multiplexed(core, sql, n_params, params, timeout_ms, wait_for_space, out, error);
    if (status == CONNPOOL_OK) return status;
    error.message = std::string(function) + ": " + error.message;
    if (status == CONNPOOL_ERR_INVALID_ARGUMENT) return misuse(fail(err, error));
    return fail(err, error);
}

// Hands a finished statement's outcome to the caller (the result handle on first collect).
connpool_status deliver(connpool_result **out, MuxStatement &statement, connpool_error **err,
                        const char *function) {
    std::unique_ptr<QueryResult> result;
    Error error;
    bool collected = false;
    const connpool_status status = statement.outcome(result, error, collected);
    if (status == CONNPOOL_ERR_IN_PROGRESS) return status;
    if (status == CONNPOOL_OK && collected) {
        return misuse(fail(err, CONNPOOL_ERR_INVALID_ARGUMENT,
                           (std::string(function) + ": the result was already collected").c_str()));
    }
    if (result) *out = publish<connpool_result>(HandleKind::result, std::move(result));
    return status == CONNPOOL_OK ? status : fail(err, error);
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_pool_exec(connpool_result **out, connpool_pool *pool,
                                                const char *sql, int32_t n_params,
                                                const char *const *params, int64_t timeout_ms,
                                                connpool_error **err) {
    static const char *const kFunction = "connpool_pool_exec";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    *out = nullptr;
    const connpool_status checked =
        check_arguments(kFunction, pool, sql, n_params, params, timeout_ms, err);
    if (checked != CONNPOOL_OK) return checked;
    return guarded(err, [&] {
        std::shared_ptr<MuxStatement> statement;
        const connpool_status status =
            submit(kFunction, statement, pool, sql, n_params, params, timeout_ms, true, err);
        if (status != CONNPOOL_OK) return status;
        // The multiplexer answers by the deadline; the slack only guards against a stalled
        // worker, which then gets the same timeout as the statement would have.
        if (!statement->wait_until(deadline_from(statement->deadline(), 1'000))) {
            statement->finish(CONNPOOL_ERR_TIMEOUT, nullptr,
                              Error(CONNPOOL_ERR_TIMEOUT, "the multiplexed statement timed out"));
        }
        return deliver(out, *statement, err, kFunction);
    });
}

CONNPOOL_API connpool_status connpool_pool_exec_async(connpool_statement **out, connpool_pool *pool,
                                                      const char *sql, int32_t n_params,
                                                      const char *const *params, int64_t timeout_ms,
                                                      connpool_error **err) {
    static const char *const kFunction = "connpool_pool_exec_async";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    *out = nullptr;
    const connpool_status checked =
        check_arguments(kFunction, pool, sql, n_params, params, timeout_ms, err);
    if (checked != CONNPOOL_OK) return checked;
    return guarded(err, [&] {
        auto object = std::make_unique<StatementObject>();
        const connpool_status status = submit(kFunction, object->statement, pool, sql, n_params,
                                              params, timeout_ms, false, err);
        if (status != CONNPOOL_OK) return status;
        *out = publish<connpool_statement>(HandleKind::statement, std::move(object));
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_statement_fd(int32_t *out_fd, connpool_statement *statement,
                                                   connpool_error **err) {
    static const char *const kFunction = "connpool_statement_fd";
    if (out_fd == nullptr) return null_argument(err, kFunction, "out_fd");
    *out_fd = -1;
    if (statement == nullptr) return null_argument(err, kFunction, "statement");
    return guarded(err, [&] {
        auto ref = lookup_statement(statement);
        if (!ref) return stale_handle(err, kFunction, "statement");
        try {
            *out_fd = ref.get<StatementObject>()->statement->fd();
        } catch (const std::system_error &e) {
            return fail(err, Error(CONNPOOL_ERR_NO_MEMORY,
                                   std::string(kFunction) +
                                       ": could not create an eventfd: " + e.code().message()));
        }
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_statement_result(connpool_result **out,
                                                       connpool_statement *statement,
                                                       connpool_error **err) {
    static const char *const kFunction = "connpool_statement_result";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    *out = nullptr;
    if (statement == nullptr) return null_argument(err, kFunction, "statement");
    return guarded(err, [&] {
        auto ref = lookup_statement(statement);
        if (!ref) return stale_handle(err, kFunction, "statement");
        return deliver(out, *ref.get<StatementObject>()->statement, err, kFunction);
    });
}

CONNPOOL_API connpool_status connpool_statement_wait(connpool_statement *statement,
                                                     int64_t timeout_ms, connpool_error **err) {
    static const char *const kFunction = "connpool_statement_wait";
    if (statement == nullptr) return null_argument(err, kFunction, "statement");
    return guarded(err, [&] {
        auto ref = lookup_statement(statement);
        if (!ref) return stale_handle(err, kFunction, "statement");
        MuxStatement &pending = *ref.get<StatementObject>()->statement;
        const TimePoint until =
            timeout_ms < 0 ? deadline_from(pending.deadline(), 1'000) : deadline_after(timeout_ms);
        if (pending.wait_until(until)) return CONNPOOL_OK;
        if (timeout_ms < 0) {
            // A stalled worker: the statement gets the timeout it was promised.
            pending.finish(CONNPOOL_ERR_TIMEOUT, nullptr,
                           Error(CONNPOOL_ERR_TIMEOUT, "the multiplexed statement timed out"));
            return CONNPOOL_OK;
        }
        return CONNPOOL_ERR_IN_PROGRESS;
    });
}

CONNPOOL_API connpool_status connpool_statement_cancel(connpool_statement *statement) {
    if (statement == nullptr) return misuse(CONNPOOL_ERR_INVALID_ARGUMENT);
    return guarded(nullptr, [&] {
        auto ref = lookup_statement(statement);
        if (!ref) return misuse(CONNPOOL_ERR_INVALID_HANDLE);
        ref.get<StatementObject>()->statement->finish(
            CONNPOOL_ERR_CANCELED, nullptr,
            Error(CONNPOOL_ERR_CANCELED, "the multiplexed statement was cancelled"));
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_statement_free(connpool_statement *statement) {
    if (statement == nullptr) return CONNPOOL_OK;
    return guarded(nullptr, [&] {
        auto object = retire<StatementObject>(HandleKind::statement, statement);
        if (!object) return misuse(CONNPOOL_ERR_INVALID_HANDLE);
        object->statement->finish(
            CONNPOOL_ERR_CANCELED, nullptr,
            Error(CONNPOOL_ERR_CANCELED, "the multiplexed statement was cancelled"));
        return CONNPOOL_OK;
    });
}

}  // extern "C"
