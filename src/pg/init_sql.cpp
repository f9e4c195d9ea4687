#include "pg/init_sql.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>

#include "pg/conninfo.hpp"
#include "pg/libpq_helpers.hpp"

namespace connpool {
namespace {

// Waits re-check `abandon` at least this often (as the connect itself does).
constexpr int64_t kPollSliceMs = 50;

enum class Wait { ready, deadline, abandoned, broken };

// Waits until libpq holds a whole result, in short poll slices.
Wait await_result(PGconn *conn, TimePoint deadline, const std::atomic<bool> &abandon) {
    while (PQisBusy(conn) != 0) {
        if (abandon.load(std::memory_order_relaxed)) return Wait::abandoned;
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return Wait::deadline;
        pollfd p{PQsocket(conn), POLLIN, 0};
        const int ready = poll(&p, 1, static_cast<int>(std::min(left, kPollSliceMs)));
        if (ready < 0 && errno != EINTR) return Wait::broken;
        if (ready > 0 && PQconsumeInput(conn) == 0) return Wait::broken;
    }
    return Wait::ready;
}

// "init_sql failed: <primary message> (SQLSTATE xxxxx)": the SQLSTATE is also in the text
// because a pool's acquire reports the latest connect error as a message.
void describe_statement_error(const PGresult *result, ConnectFailure &failure) {
    const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    failure.sqlstate = state != nullptr ? state : "";
    failure.message =
        "init_sql failed: " +
        (primary != nullptr ? std::string(primary) : trimmed(PQresultErrorMessage(result)));
    if (!failure.sqlstate.empty()) failure.message += " (SQLSTATE " + failure.sqlstate + ")";
}

bool fail(ConnectFailure &failure, std::string message) {
    failure.message = std::move(message);
    return false;
}

}  // namespace

bool run_init_sql(PGconn *conn, const std::string &sql, TimePoint deadline,
                  const std::atomic<bool> &abandon, const std::string &password,
                  ConnectFailure &failure) {
    if (PQsendQuery(conn, sql.c_str()) == 0) {
        return fail(failure, "init_sql could not be sent: " +
                                 redact(trimmed(PQerrorMessage(conn)), password));
    }
    bool failed = false;
    for (;;) {
        switch (await_result(conn, deadline, abandon)) {
            case Wait::ready:
                break;
            case Wait::deadline:
                return fail(failure,
                            "init_sql did not finish within connect_timeout; make it faster or "
                            "raise connect_timeout");
            case Wait::abandoned:
                return fail(failure, "connect abandoned: the pool is closing");
            case Wait::broken:
                return fail(failure, "connection lost while running init_sql: " +
                                         redact(trimmed(PQerrorMessage(conn)), password));
        }
        PGresult *result = PQgetResult(conn);
        if (result == nullptr) break;
        const ExecStatusType status = PQresultStatus(result);
        if (is_copy(status)) {
            PQclear(result);
            return fail(failure, "init_sql must not start a COPY");
        }
        if (!failed && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
            status != PGRES_EMPTY_QUERY) {
            describe_statement_error(result, failure);
            failure.message = redact(failure.message, password);
            failed = true;
        }
        PQclear(result);
    }
    if (failed) return false;
    if (PQstatus(conn) != CONNECTION_OK) {
        return fail(failure, "connection lost while running init_sql");
    }
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        return fail(failure,
                    "init_sql left a transaction open; end it with COMMIT (a new connection "
                    "must be idle before it is used)");
    }
    return true;
}

}  // namespace connpool
