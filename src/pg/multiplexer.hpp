// Multiplexed statements: statements run on the pool without a lease (connpool_pool_exec) are
// written by many callers into a few shared connections held by the multiplexer, in libpq
// pipeline mode with one sync point per statement (one caller's error never aborts another's),
// and each result is routed back to its caller in order. The header does not include libpq.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/pool.hpp"
#include "core/wake_flag.hpp"
#include "pg/result.hpp"

namespace connpool {

// One submitted statement: shared by its caller and the multiplexer, finished exactly once (by
// its result, its deadline, a cancel, a lost connection or the pool closing).
class MuxStatement {
  public:
    MuxStatement(const char *sql, int32_t n_params, const char *const *params, TimePoint deadline);
    ~MuxStatement();
    MuxStatement(const MuxStatement &) = delete;
    MuxStatement &operator=(const MuxStatement &) = delete;

    // The first outcome wins; later ones are discarded (a result arriving after the deadline).
    void finish(connpool_status status, std::unique_ptr<QueryResult> result, Error error);
    bool finished() const;
    // Blocks until finished or `until`; true if finished.
    bool wait_until(TimePoint until);
    // The eventfd readable once finished; created on first use (throws std::system_error).
    int fd();
    // IN_PROGRESS, or the final status with the result moved out on the first call (`result`
    // stays empty on later calls; `collected` tells the caller whether it was taken before).
    connpool_status outcome(std::unique_ptr<QueryResult> &result, Error &error, bool &collected);

    const char *sql() const { return text_.c_str(); }
    int32_t n_params() const { return static_cast<int32_t>(params_.size()); }
    const char *const *params() const { return params_.data(); }
    TimePoint deadline() const { return deadline_; }

  private:
    mutable std::mutex mutex_;          // guards the outcome below; never held while waiting
    WakeFlag done_;                     // set after the outcome is stored
    std::string text_;                  // sql, NUL, then each non-NULL parameter and its NUL
    std::vector<const char *> params_;  // into text_, nullptr = SQL NULL
    const TimePoint deadline_;
    bool finished_ = false;
    bool collected_ = false;
    int event_fd_ = -1;
    connpool_status status_ = CONNPOOL_ERR_IN_PROGRESS;
    std::unique_ptr<QueryResult> result_;
    Error error_;
};

// Remembers a pool's multiplexing_connections (0 = off) and default statement timeout; called
// when the pool is created. The multiplexer itself starts with the first statement.
void configure_multiplexing(const std::shared_ptr<Pool> &pool, int64_t connections,
                            int64_t default_timeout_ms);

// Stops the pool's multiplexer, if any: queued and in-flight statements finish with
// CONNPOOL_ERR_POOL_CLOSED, its threads are joined and its connections closed. Called before
// the pool closes.
void stop_multiplexing(const Pool &pool);

// The first keyword of `sql` if it opens a transaction or changes the session (BEGIN, SET...),
// which a statement on a shared connection cannot do; empty otherwise.
std::string session_keyword(const char *sql);

// Queues a statement (`timeout_ms` > 0, or < 0 for the pool's acquire_timeout) on the pool's
// multiplexer. `wait_for_space`: a full queue is waited on until the statement's deadline
// (else it is refused at once with CONNPOOL_ERR_TOO_MANY_WAITERS). On OK `out` is queued;
// otherwise `error` says why (multiplexing off, a session statement, the pool closed...).
connpool_status submit_multiplexed(const std::shared_ptr<Pool> &pool, const char *sql,
                                   int32_t n_params, const char *const *params, int64_t timeout_ms,
                                   bool wait_for_space, std::shared_ptr<MuxStatement> &out,
                                   Error &error);

}  // namespace connpool
