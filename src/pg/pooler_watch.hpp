// Notices a transaction-pooling proxy between the pool and the server (PgBouncer before 1.21 in
// transaction mode, or any pooler that hands a client a different server session for each
// transaction): prepared statements then vanish between transactions. Without it every such
// statement would cost a failed round trip (26000 "prepared statement does not exist") and a
// re-run, forever.
//
// Evidence: a cached statement found missing (26000) although the cache saw nothing drop it
// (DISCARD ALL, DEALLOCATE, the raw PGconn are tracked). Once may be a DO block deallocating;
// kLossesBeforeVerdict times on one connection is a pooler. The verdict is pool-wide: every
// connection stops preparing (statements run unprepared, as with statement_cache_size=0) and
// the pool logs once, naming statement_cache_size=0 as the setting to make it explicit.
//
// Safety does not depend on the verdict: statement names carry a per-process random token and
// the process id, so another client's statement of the same name can never be executed in place
// of ours through a shared server session; a foreign session fails with 26000 instead.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace spdlog {
class logger;
}

namespace connpool {

class PoolerWatch {
  public:
    static constexpr int64_t kLossesBeforeVerdict = 3;

    // The pool's logger, set once the pool exists (connections may be opened before).
    void set_log(spdlog::logger *log) { log_.store(log, std::memory_order_release); }

    // A transaction pooler was detected: connections stop preparing statements.
    bool detected() const { return detected_.load(std::memory_order_relaxed); }

    // A connection's `losses`-th unexplained loss of a cached statement `name`.
    void note_loss(int64_t losses, const std::string &name);

  private:
    std::atomic<bool> detected_{false};
    std::atomic<bool> warned_{false};
    std::atomic<spdlog::logger *> log_{nullptr};
};

// Appended to a 26000 error returned to the caller for a cached statement.
inline constexpr const char *kPoolerHint =
    " (the pool had prepared this statement on this connection: if a pooler such as PgBouncer "
    "in transaction mode, before 1.21, is in between, set statement_cache_size=0)";

}  // namespace connpool
