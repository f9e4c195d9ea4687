// The per-connection prepared-statement cache behind connpool_lease_exec/_send: which statement
// texts are prepared on the server under which name, which are still being counted towards
// prepare_threshold, and which names wait to be deallocated. Pure bookkeeping, no I/O: the
// statement runner (pg_query.cpp) sends what it decides.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace connpool {

class PoolerWatch;

// What every name of this process's cached prepared statements starts with (the full reset
// keeps those and deallocates the others).
const std::string &statement_name_prefix();

struct StatementCacheConfig {
    int64_t capacity = 100;                // prepared statements kept; 0 disables the cache
    int64_t prepare_threshold = 5;         // unprepared executions before a text is prepared
    std::shared_ptr<PoolerWatch> watch{};  // shared by a pool's connections (may be null)
};

class StatementCache {
  public:
    explicit StatementCache(StatementCacheConfig config) : config_(std::move(config)) {}
    StatementCache(const StatementCache &) = delete;
    StatementCache &operator=(const StatementCache &) = delete;

    // What to do with one execution of (sql, n_params).
    struct Use {
        const std::string *name = nullptr;  // null: run unprepared
        bool prepare = false;               // true: prepare `name` first (new entry)
        // The text's may_change_session (pg/session_effects.hpp), classified once per entry;
        // `classified` is false when the cache keeps no entry (disabled): the caller scans.
        bool classified = false;
        bool changes_session = false;
    };
    // Counts the execution and decides; may evict the least recently used prepared statement
    // (its name goes to the pending deallocations).
    Use use(std::string_view sql, int32_t n_params);

    // The statement `name` is not (or no longer usably) prepared: forget it. `exists_on_server`
    // queues a DEALLOCATE for it.
    void forget(const std::string &name, bool exists_on_server);
    // Forgets every entry. `server_dropped`: the server already dropped them all (DISCARD ALL,
    // DEALLOCATE ALL); otherwise their names are queued for DEALLOCATE (which may then fail
    // harmlessly if they were gone after all).
    void forget_all(bool server_dropped);

    // Names waiting for DEALLOCATE; the runner takes them when it can send them safely.
    std::vector<std::string> &pending_deallocations() { return to_deallocate_; }

    bool enabled() const { return config_.capacity > 0; }
    // Stops preparing for good (a transaction pooler is in between): forgets every entry, and
    // the DEALLOCATEs, which would reach arbitrary server sessions.
    void disable() {
        forget_all(true);
        config_.capacity = 0;
    }
    // Counts a cached statement found missing without a known cause; returns the count.
    int64_t note_unexplained_loss() { return ++losses_; }
    PoolerWatch *watch() const { return config_.watch.get(); }
    size_t prepared_count() const { return prepared_.size(); }
    size_t counting_count() const { return counting_.size(); }

  private:
    struct Entry {
        std::string sql;
        int32_t n_params = 0;
        std::string name;  // empty while counting
        int64_t uses = 0;
        bool changes_session = false;
    };
    using List = std::list<Entry>;
    struct Key {
        std::string_view sql;
        int32_t n_params;
        bool operator==(const Key &) const = default;
    };
    struct KeyHash {
        size_t operator()(const Key &k) const noexcept {
            return std::hash<std::string_view>()(k.sql) ^ (static_cast<size_t>(k.n_params) << 1);
        }
    };
    void evict_beyond_capacity();
    void erase(List &list, List::iterator it);

    StatementCacheConfig config_;
    List prepared_;  // front = most recently used
    List counting_;  // texts seen fewer than prepare_threshold times; front = most recent
    // Keys point into the entries' own strings (list nodes never move).
    std::unordered_map<Key, std::pair<List *, List::iterator>, KeyHash> index_;
    std::vector<std::string> to_deallocate_;
    int64_t losses_ = 0;
};

}  // namespace connpool
