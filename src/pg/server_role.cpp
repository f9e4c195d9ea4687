#include "pg/server_role.hpp"

#include <atomic>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

namespace connpool {
namespace {

bool is_on(const PGconn *conn, const char *parameter) {
    const char *value = PQparameterStatus(conn, parameter);
    return value != nullptr && std::strcmp(value, "on") == 0;
}

// Process-wide: a server's role is a fact about the server, whichever pool noticed it.
struct Fences {
    std::mutex mutex;
    std::vector<std::pair<std::string, TimePoint>> since;  // node -> when it was fenced
};

Fences &fences() {
    static Fences *instance = new Fences;  // never destroyed: used until the process exits
    return *instance;
}

// Fences set so far (each fence_node call): lets `fenced` skip the list when nothing changed.
std::atomic<uint64_t> fences_set{0};

}  // namespace

void observe_server_role(PGconn *conn, ServerRole &role) {
    role = ServerRole{};
    role.connected_at = Clock::now();
    const char *host = PQhost(conn);
    const char *port = PQport(conn);
    role.node = std::string(host != nullptr ? host : "") + ":" + (port != nullptr ? port : "");
    PQconninfoOption *options = PQconninfo(conn);
    if (options == nullptr) return;
    for (PQconninfoOption *o = options; o->keyword != nullptr; ++o) {
        if (std::strcmp(o->keyword, "target_session_attrs") == 0 && o->val != nullptr) {
            role.must_be_writable =
                std::strcmp(o->val, "read-write") == 0 || std::strcmp(o->val, "primary") == 0;
        }
    }
    PQconninfoFree(options);
}

bool reports_read_only(const PGconn *conn) {
    return is_on(conn, "in_hot_standby") || is_on(conn, "default_transaction_read_only");
}

bool reports_role(const PGconn *conn) {
    return PQparameterStatus(conn, "in_hot_standby") != nullptr;
}

void fence_node(const std::string &node) {
    Fences &f = fences();
    const TimePoint now = Clock::now();
    std::lock_guard<std::mutex> lock(f.mutex);
    // Counted under the lock, before the change, so a reader that saw the new count reads the
    // list after it (the lock orders them).
    fences_set.fetch_add(1, std::memory_order_release);
    for (auto &[name, since] : f.since) {
        if (name == node) {
            since = now;
            return;
        }
    }
    f.since.emplace_back(node, now);
}

bool fenced(ServerRole &role) {
    if (!role.must_be_writable) return false;
    const uint64_t set = fences_set.load(std::memory_order_acquire);
    if (set == role.fences_checked) return false;
    Fences &f = fences();
    std::lock_guard<std::mutex> lock(f.mutex);
    for (const auto &[name, since] : f.since) {
        if (name == role.node && role.connected_at <= since) return true;
    }
    role.fences_checked = set;
    return false;
}

RoleVerdict role_verdict_on_release(const PGconn *conn, ServerRole &role) {
    if (!role.must_be_writable) return RoleVerdict::keep;
    const bool read_only_error = std::exchange(role.read_only_error, false);
    if (reports_read_only(conn)) return RoleVerdict::discard_fenced;
    // PostgreSQL 14+ reports the role: a 25006 there without it came from the session itself
    // (BEGIN READ ONLY, SET transaction_read_only), not from the server's role.
    if (read_only_error && !reports_role(conn)) return RoleVerdict::discard;
    return RoleVerdict::keep;
}

}  // namespace connpool
