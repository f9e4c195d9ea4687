#include "core/pool_group.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/logger.h>

#include "core/stats_json.hpp"

namespace connpool {
namespace {

const char *route_name(Route route) {
    return route == Route::read_only ? "read-only" : "read-write";
}

// Statuses after which a node is taken out of rotation until its next successful check.
bool node_failed(connpool_status status) {
    return status == CONNPOOL_ERR_CONNECT_FAILED || status == CONNPOOL_ERR_DATABASE_UNAVAILABLE ||
           status == CONNPOOL_ERR_CONNECTION_BROKEN;
}

int64_t ms_left(TimePoint deadline) {
    return std::max<int64_t>(0,
                             std::chrono::duration_cast<Millis>(deadline - Clock::now()).count());
}

}  // namespace

const char *role_name(NodeRole role) {
    switch (role) {
        case NodeRole::primary:
            return "primary";
        case NodeRole::standby:
            return "standby";
        case NodeRole::unknown:
            break;
    }
    return "unknown";
}

PoolGroup::PoolGroup(GroupOptions options, std::vector<GroupNodeSpec> nodes, NodeProbe probe)
    : options_(std::move(options)), probe_(std::move(probe)) {
    for (GroupNodeSpec &spec : nodes) {
        auto node = std::make_unique<Node>();
        node->spec = std::move(spec);
        nodes_.push_back(std::move(node));
    }
    for (auto &node : nodes_) {
        Node &n = *node;
        n.checker = std::thread([this, &n] { check_loop(n); });
    }
}

PoolGroup::~PoolGroup() {
    close();
}

bool PoolGroup::forked() const {
    return !nodes_.empty() && nodes_.front()->spec.pool->forked();
}

void PoolGroup::close() {
    {
        std::lock_guard lock(mutex_);
        if (closed_.exchange(true, std::memory_order_acq_rel)) return;
    }
    changed_.notify_all();
    // A checker blocked in its node pool's acquire wakes when that pool closes.
    for (auto &node : nodes_) node->spec.pool->close();
    for (auto &node : nodes_) {
        if (node->checker.joinable()) node->checker.join();
    }
}

void PoolGroup::check_loop(Node &node) {
    // A check waits for a connection no longer than an interval (at least a second, so that a
    // slow connect on a healthy node is not taken for a dead one).
    const int64_t probe_timeout = std::max<int64_t>(options_.check_interval_ms, 1'000);
    while (!closed()) {
        const ProbeOutcome outcome = probe_(*node.spec.pool, probe_timeout);
        if (closed()) break;
        record(node, outcome);
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, Millis(options_.check_interval_ms), [this] { return closed(); });
    }
}

void PoolGroup::record(Node &node, const ProbeOutcome &outcome) {
    Pool &pool = *node.spec.pool;
    bool role_changed = false;
    NodeRole was = NodeRole::unknown;
    {
        std::lock_guard lock(mutex_);
        node.checked = true;
        ++node.checks;
        if (outcome.error.ok()) {
            was = node.role;
            role_changed = node.role != NodeRole::unknown && node.role != outcome.role;
            node.role = outcome.role;
            node.healthy = true;
            node.lag_ms = outcome.role == NodeRole::standby ? outcome.lag_ms : 0;
        } else {
            node.healthy = false;
            node.last_error = outcome.error.message;
        }
    }
    changed_.notify_all();
    if (role_changed) {
        pool.log().warn("pool group {}: node {}:{} changed from {} to {}", options_.name,
                        node.spec.host, node.spec.port, role_name(was), role_name(outcome.role));
    }
}

void PoolGroup::mark_down(Node &node, const Error &error) {
    std::lock_guard lock(mutex_);
    node.healthy = false;
    node.last_error = error.message;
}

bool PoolGroup::all_checked_locked() const {
    return std::all_of(nodes_.begin(), nodes_.end(), [](const auto &n) { return n->checked; });
}

size_t PoolGroup::candidates_locked(Route route, Candidates &out) {
    size_t count = 0;
    if (route == Route::read_only) {
        for (size_t i = 0; i < nodes_.size() && count < kMaxNodes; ++i) {
            const Node &n = *nodes_[i];
            const bool fresh = options_.max_lag_ms == 0 || n.lag_ms <= options_.max_lag_ms;
            if (n.healthy && n.role == NodeRole::standby && fresh) out[count++] = i;
        }
        if (count > 1) {
            // Round robin: each read-only acquire starts at the next standby.
            const size_t start = next_standby_.fetch_add(1, std::memory_order_relaxed) % count;
            std::rotate(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(start),
                        out.begin() + static_cast<std::ptrdiff_t>(count));
        }
        if (count > 0) return count;
    }
    for (size_t i = 0; i < nodes_.size() && count < kMaxNodes; ++i) {
        const Node &n = *nodes_[i];
        if (n.healthy && n.role == NodeRole::primary) out[count++] = i;
    }
    return count;
}

std::string PoolGroup::nodes_summary_locked() const {
    std::string text;
    for (const auto &n : nodes_) {
        if (!text.empty()) text += ", ";
        text += n->spec.host + ":" + n->spec.port + " ";
        if (!n->checked) {
            text += "not checked yet";
        } else if (!n->healthy) {
            text += "down (" + n->last_error + ")";
        } else {
            text += role_name(n->role);
            if (n->role == NodeRole::standby && options_.max_lag_ms > 0 &&
                n->lag_ms > options_.max_lag_ms) {
                text += " lagging " + std::to_string(n->lag_ms) + " ms";
            }
        }
    }
    return text;
}

connpool_status PoolGroup::no_node(Route route, int64_t timeout_ms, Error *error) {
    if (error != nullptr) {
        std::lock_guard lock(mutex_);
        *error = Error(CONNPOOL_ERR_DATABASE_UNAVAILABLE,
                       "pool group " + options_.name + ": no node can serve a " +
                           route_name(route) + " lease after " + std::to_string(timeout_ms) +
                           " ms (" + nodes_summary_locked() +
                           "); check that the servers are up, or raise replica_max_lag");
    }
    return CONNPOOL_ERR_DATABASE_UNAVAILABLE;
}

size_t PoolGroup::wait_for_candidates(Route route, TimePoint deadline, Candidates &order) {
    size_t count = 0;
    std::unique_lock lock(mutex_);
    // Until a node that can serve the route is known (first checks, failover), wait for the
    // checkers' news.
    changed_.wait_until(lock, deadline, [&] {
        count = candidates_locked(route, order);
        return count > 0 || closed();
    });
    return count;
}

bool PoolGroup::take_at_hand(const Candidates &order, size_t count, Slot *&out) {
    for (size_t i = 0; i < count; ++i) {
        if (nodes_[order[i]]->spec.pool->try_acquire(out, nullptr) == CONNPOOL_OK) return true;
    }
    return false;
}

connpool_status PoolGroup::closed_error(Error *error) const {
    if (error != nullptr) {
        *error = Error(CONNPOOL_ERR_POOL_CLOSED, "pool group " + options_.name + " is closed");
    }
    return CONNPOOL_ERR_POOL_CLOSED;
}

void PoolGroup::count_acquire(Route route) {
    (route == Route::read_only ? read_only_acquires_ : read_write_acquires_)
        .fetch_add(1, std::memory_order_relaxed);
}

void PoolGroup::count_served(Route route, const Node &node) {
    std::lock_guard lock(mutex_);  // the node's role is the checkers'
    if (route == Route::read_only && node.role == NodeRole::primary) {
        read_only_on_primary_.fetch_add(1, std::memory_order_relaxed);
    }
}

connpool_status PoolGroup::acquire(Route route, int64_t timeout_ms, Slot *&out, Error *error) {
    if (timeout_ms < 0) timeout_ms = options_.acquire_timeout_ms;
    const TimePoint deadline = deadline_after(timeout_ms);
    count_acquire(route);
    for (;;) {
        Candidates order{};
        const size_t count = wait_for_candidates(route, deadline, order);
        if (closed()) return closed_error(error);
        if (count == 0) return no_node(route, timeout_ms, error);
        // First, any candidate with a connection at hand, in order, without waiting; then wait
        // on the first. With others to turn to, wait one check interval at most, then look
        // again (a node may have gone down, or another may have a connection free).
        Node &node = *nodes_[order[0]];
        const int64_t left = ms_left(deadline);
        const int64_t slice = count > 1 ? std::min(left, options_.check_interval_ms) : left;
        Error last;
        const connpool_status status = take_at_hand(order, count, out)
                                           ? CONNPOOL_OK
                                           : node.spec.pool->acquire(slice, out, &last);
        if (status == CONNPOOL_OK) {
            count_served(route, node);
            return status;
        }
        if (node_failed(status)) mark_down(node, last);
        if (status == CONNPOOL_ERR_POOL_CLOSED) return closed() ? closed_error(error) : status;
        if (Clock::now() >= deadline) return node_error(route, node, status, last, error);
    }
}

connpool_status PoolGroup::node_error(Route route, const Node &node, connpool_status status,
                                      const Error &last, Error *error) const {
    if (error != nullptr) {
        *error = Error(status,
                       "pool group " + options_.name + ", " + route_name(route) + " lease on " +
                           node.spec.host + ":" + node.spec.port + ": " + last.message,
                       last.sqlstate);
    }
    return status;
}

connpool_status PoolGroup::wait_checked(int64_t timeout_ms, Error *error) {
    if (timeout_ms < 0) timeout_ms = options_.acquire_timeout_ms;
    std::unique_lock lock(mutex_);
    const bool done = changed_.wait_until(lock, deadline_after(timeout_ms),
                                          [this] { return all_checked_locked() || closed(); });
    if (closed()) return closed_error(error);
    if (done) return CONNPOOL_OK;
    if (error != nullptr) {
        *error = Error(CONNPOOL_ERR_TIMEOUT,
                       "pool group " + options_.name + ": not every node was checked within " +
                           std::to_string(timeout_ms) + " ms (" + nodes_summary_locked() + ")");
    }
    return CONNPOOL_ERR_TIMEOUT;
}

std::string PoolGroup::stats_json() const {
    struct View {
        const Node *node;
        NodeRole role;
        bool healthy;
        int64_t lag_ms, checks;
        std::string last_error;
    };
    std::vector<View> views;
    views.reserve(nodes_.size());
    {
        std::lock_guard lock(mutex_);
        for (const auto &n : nodes_) {
            views.push_back({n.get(), n->role, n->healthy, n->lag_ms, n->checks, n->last_error});
        }
    }
    std::string json =
        "{\"name\": \"" + json_escape(options_.name) +
        "\", \"closed_group\": " + (closed() ? "true" : "false") +
        ", \"read_write_acquires\": " + std::to_string(read_write_acquires_.load()) +
        ", \"read_only_acquires\": " + std::to_string(read_only_acquires_.load()) +
        ", \"read_only_on_primary\": " + std::to_string(read_only_on_primary_.load()) +
        ", \"nodes\": [";
    for (size_t i = 0; i < views.size(); ++i) {
        const View &v = views[i];
        if (i > 0) json += ", ";
        json +=
            "{\"host\": \"" + json_escape(v.node->spec.host) + "\", \"port\": \"" +
            json_escape(v.node->spec.port) + "\", \"role\": \"" + role_name(v.role) +
            "\", \"healthy\": " + (v.healthy ? "true" : "false") +
            ", \"lag_ms\": " + (v.role == NodeRole::standby ? std::to_string(v.lag_ms) : "null") +
            ", \"checks\": " + std::to_string(v.checks) + ", \"last_error\": \"" +
            json_escape(v.last_error) + "\", \"stats\": " + v.node->spec.pool->stats_json() + "}";
    }
    return json + "]}";
}

}  // namespace connpool
