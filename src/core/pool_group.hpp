// A pool group: one logical pool over a primary and its standbys, one ordinary Pool per node.
// Read-write leases go to the primary; read-only leases go round robin to the healthy standbys
// (within the replica lag bound), and to the primary only when no standby qualifies.
//
// What a node is (primary or standby), whether it answers and how far its replay lags are
// learnt by a checker thread per node, every check_interval, through one of that node's own
// pooled connections: the question itself (a probe) is the layer above's (src/pg asks
// pg_is_in_recovery()). A promotion is therefore seen within one interval, and acquire never
// waits for a probe. An acquire that fails to connect to a node marks it down at once; the next
// successful check brings it back.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/pool.hpp"

namespace connpool {

enum class NodeRole { unknown, primary, standby };
enum class Route { read_write = 0, read_only = 1 };

const char *role_name(NodeRole role);

// What one check of a node found. lag_ms: how far a standby's replay is behind (0 when it has
// replayed everything it received; ignored for a primary).
struct ProbeOutcome {
    Error error;  // not ok: the node did not answer (connect failed, connection lost, timeout)
    NodeRole role = NodeRole::unknown;
    int64_t lag_ms = 0;
};
// Asks `pool`'s server what it is, waiting at most timeout_ms for a connection.
using NodeProbe = std::function<ProbeOutcome(Pool &pool, int64_t timeout_ms)>;

struct GroupNodeSpec {
    std::string host;  // for stats and messages only
    std::string port;
    std::shared_ptr<Pool> pool;
};

struct GroupOptions {
    std::string name;
    int64_t acquire_timeout_ms = 30'000;  // used when acquire is given a negative timeout
    int64_t check_interval_ms = 1'000;
    int64_t max_lag_ms = 0;  // 0 = no bound
};

class PoolGroup {
  public:
    static constexpr size_t kMaxNodes = 32;

    // Starts one checker thread per node; the first checks begin at once.
    PoolGroup(GroupOptions options, std::vector<GroupNodeSpec> nodes, NodeProbe probe);
    ~PoolGroup();
    PoolGroup(const PoolGroup &) = delete;
    PoolGroup &operator=(const PoolGroup &) = delete;

    // Borrows a connection of a node that serves `route` (see the file comment). Waits up to
    // timeout_ms (< 0: acquire_timeout) for such a node to be known and for one of its pool's
    // connections. The slot is an ordinary lease of that node's pool: release it there.
    // DATABASE_UNAVAILABLE when no node can serve the route by the deadline, TIMEOUT when nodes
    // could but none had a connection free in time, POOL_CLOSED after close().
    connpool_status acquire(Route route, int64_t timeout_ms, Slot *&out, Error *error);

    // Waits until every node has been checked once (role known or found down). TIMEOUT after
    // timeout_ms, POOL_CLOSED after close().
    connpool_status wait_checked(int64_t timeout_ms, Error *error);

    // {"name", "closed_group", "read_write_acquires", "read_only_acquires",
    //  "read_only_on_primary", "nodes": [{"host", "port", "role", "healthy", "lag_ms",
    //  "checks", "last_error", "stats": <the node pool's stats JSON>}, ...]}
    std::string stats_json() const;

    // Stops the checkers and closes every node pool (leases out are closed when released).
    // Idempotent.
    void close();
    bool closed() const { return closed_.load(std::memory_order_acquire); }
    bool forked() const;
    size_t node_count() const { return nodes_.size(); }

  private:
    struct Node {
        GroupNodeSpec spec;
        // Guarded by mutex_.
        NodeRole role = NodeRole::unknown;
        bool healthy = false;
        bool checked = false;
        int64_t lag_ms = 0;
        int64_t checks = 0;
        std::string last_error;
        std::thread checker;
    };
    using Candidates = std::array<size_t, kMaxNodes>;

    void check_loop(Node &node);
    void record(Node &node, const ProbeOutcome &outcome);
    void mark_down(Node &node, const Error &error);
    // The nodes that may serve `route` now, best first; 0 if none.
    size_t candidates_locked(Route route, Candidates &out);
    bool all_checked_locked() const;
    std::string nodes_summary_locked() const;
    connpool_status no_node(Route route, int64_t timeout_ms, Error *error);
    // The steps of acquire: wait until some node can serve the route (0: none by the
    // deadline); take an idle connection of any of them without waiting.
    size_t wait_for_candidates(Route route, TimePoint deadline, Candidates &order);
    bool take_at_hand(const Candidates &order, size_t count, Slot *&out);
    connpool_status closed_error(Error *error) const;
    void count_acquire(Route route);
    void count_served(Route route, const Node &node);
    connpool_status node_error(Route route, const Node &node, connpool_status status,
                               const Error &last, Error *error) const;

    GroupOptions options_;
    NodeProbe probe_;
    std::vector<std::unique_ptr<Node>> nodes_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;  // node state changed, or closing
    std::atomic<bool> closed_{false};
    std::atomic<uint64_t> next_standby_{0};  // round robin over standbys
    std::atomic<int64_t> read_write_acquires_{0}, read_only_acquires_{0}, read_only_on_primary_{0};
};

}  // namespace connpool
