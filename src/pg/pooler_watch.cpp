#include "pg/pooler_watch.hpp"

#include <spdlog/logger.h>

namespace connpool {

void PoolerWatch::note_loss(int64_t losses, const std::string &name) {
    if (losses < kLossesBeforeVerdict) return;
    detected_.store(true, std::memory_order_relaxed);
    if (warned_.exchange(true)) return;
    if (spdlog::logger *log = log_.load(std::memory_order_acquire)) {
        log->warn(
            "prepared statements keep vanishing between transactions ({} on one connection, "
            "latest {}): the server session changes under the connection, as behind PgBouncer "
            "in transaction mode before 1.21; statements now run unprepared. Set "
            "statement_cache_size=0 for this pool (or PgBouncer >= 1.21 with "
            "max_prepared_statements)",
            losses, name);
    }
}

}  // namespace connpool
