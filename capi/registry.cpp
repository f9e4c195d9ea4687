// connpool_registry_*: the process-wide registry of named pools and the connection budget they
// share.
#include "registry.hpp"

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "core/fork_guard.hpp"
#include "core/stats_aggregate.hpp"
#include "core/stats_json.hpp"
#include "handles.hpp"
#include "pg/conninfo.hpp"
#include "pg/pool_factory.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

constexpr size_t kMaxNameLength = 63;

struct Entry {
    std::string conninfo;   // as given; compared key by key with later requests
    PoolSettings settings;  // as the pool was created (its name option is the registry name)
    std::shared_ptr<Pool> pool;
};

struct Registry {
    explicit Registry(uint64_t generation_, int32_t budget_limit)
        : generation(generation_), limit(budget_limit) {
        budget->set_limit(budget_limit);
    }
    const uint64_t generation;  // fork_generation() it belongs to
    std::mutex mutex;
    std::map<std::string, Entry, std::less<>> pools;  // sorted: names() and snapshots in order
    const std::shared_ptr<ConnectionBudget> budget = std::make_shared<ConnectionBudget>();
    std::atomic<int32_t> limit;  // the budget's limit, readable without any lock (fork)
    // In a child after fork(): the parent's registry, never used here but kept reachable (it
    // is leaked on purpose, not lost: leak checkers see it through this pointer).
    Registry *inherited = nullptr;
};

// The registry of this process. Never destroyed: registered pools outlive static destructors
// (closing them at exit would join their threads while the process is being torn down).
//
// A child after fork() gets an empty registry and a budget of its own (with the parent's
// limit): the parent's pools, their sessions and threads are the parent's, so the child must
// neither close them (that would end the parent's sessions) nor let its budget ask them for
// connections, nor wait on the parent's registry mutex, which another thread may have held at
// fork time. The parent's registry is left untouched, a deliberate leak in the child.
Registry &registry() {
    static std::atomic<Registry *> current{nullptr};
    install_fork_guard();
    const uint64_t generation = fork_generation();
    Registry *seen = current.load(std::memory_order_acquire);
    while (seen == nullptr || seen->generation != generation) {
        const int32_t limit = seen != nullptr ? seen->limit.load(std::memory_order_relaxed) : 0;
        auto *fresh = new Registry(generation, limit);
        fresh->inherited = seen;
        if (current.compare_exchange_strong(seen, fresh, std::memory_order_acq_rel)) return *fresh;
        delete fresh;  // another thread installed one first: `seen` is now that one
    }
    return *seen;
}

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength) return false;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

connpool_status bad_name(connpool_error **err, const char *function, std::string_view name) {
    const std::string message =
        std::string(function) + ": pool name " + quoted_input(name) +
        " is not valid; use 1 to 63 characters from A-Z, a-z, 0-9, '_', '.' and '-'";
    return fail(err, CONNPOOL_ERR_INVALID_ARGUMENT, message.c_str());  // counts as misuse
}

connpool_status not_found(connpool_error **err, const char *function, std::string_view name) {
    const std::string message = std::string(function) + ": no registered pool is named " +
                                quoted_input(name) +
                                "; create it with connpool_registry_get_or_create";
    return fail(err, CONNPOOL_ERR_NOT_FOUND, message.c_str());
}

// Why an existing pool cannot be handed out for this request: "" if it can. Names the first
// differing conninfo key (never a value) or option (both values: options hold no secret).
Error first_difference(const std::string &name, const Entry &entry, const char *conninfo,
                       const PoolSettings &settings) {
    const std::string there = "registered pool \"" + name + "\" exists with ";
    const std::string fix = "; pass the same ones, close that pool first, or use another name";
    ConninfoDifference difference;
    Error error = first_conninfo_difference(entry.conninfo.c_str(), conninfo, difference);
    if (!error.ok()) return error;
    if (!difference.key.empty()) {
        const std::string what = difference.secret ? difference.key + " differs"
                                                   : "key \"" + difference.key + "\" differs";
        return {CONNPOOL_ERR_CONFLICT, there + "another conninfo: " + what + fix};
    }
    for (const OptionEntry &option : option_catalog()) {
        const std::string registered = entry.settings.get(option.spec.key);
        const std::string requested = settings.get(option.spec.key);
        if (registered == requested) continue;
        std::string message = there;
        message += "other options: option \"";
        message += option.spec.key;
        message += "\" is " + quoted_input(registered) + " there, ";
        message += quoted_input(requested) + " here" + fix;
        return {CONNPOOL_ERR_CONFLICT, std::move(message)};
    }
    return {};
}

// The caller's options (or the defaults), named after the registry entry.
connpool_status resolve_settings(const connpool_options *options, const char *name,
                                 PoolSettings &out, connpool_error **err) {
    if (options != nullptr) {
        auto ref = HandleRegistry::instance().lookup(token_of(options), HandleKind::options);
        if (!ref) return stale_handle(err, "connpool_registry_get_or_create", "options");
        out = ref.get<OptionsObject>()->settings;
    }
    out.pool.name = name;
    return CONNPOOL_OK;
}

// Finds or creates the entry under the registry lock, so that of racing callers with one name
// exactly one creates the pool. Creating never waits for the server.
Error find_or_create(const char *name, const char *conninfo, const PoolSettings &settings,
                     std::shared_ptr<Pool> &out) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (auto found = r.pools.find(name); found != r.pools.end()) {
        Error conflict = first_difference(name, found->second, conninfo, settings);
        if (!conflict.ok()) return conflict;
        out = found->second.pool;
        return {};
    }
    Error error = create_pg_pool(conninfo, settings, out, r.budget);
    if (!error.ok()) return error;
    r.pools.emplace(name, Entry{conninfo, settings, out});
    return {};
}

std::shared_ptr<Pool> take_out(std::string_view name) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto found = r.pools.find(name);
    if (found == r.pools.end()) return nullptr;
    std::shared_ptr<Pool> pool = std::move(found->second.pool);
    r.pools.erase(found);
    return pool;
}

char *copy_out(const std::string &text) {
    char *copy = new char[text.size() + 1];
    std::memcpy(copy, text.c_str(), text.size() + 1);
    return copy;
}

std::string stats_document() {
    const std::vector<RegisteredPool> pools = registered_pools();
    std::vector<PoolStats> snapshots;
    snapshots.reserve(pools.size());
    std::string out = "{\"pools\": {";
    for (const RegisteredPool &entry : pools) {
        if (!snapshots.empty()) out += ", ";
        out += "\"" + json_escape(entry.name) + "\": " + entry.pool->stats_json();
        snapshots.push_back(entry.pool->stats());
    }
    out += "}, \"aggregate\": " + aggregate_to_json(aggregate_stats(snapshots)) + "}";
    return out;
}

}  // namespace

namespace connpool::capi {

std::vector<RegisteredPool> registered_pools() {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    std::vector<RegisteredPool> out;
    out.reserve(r.pools.size());
    for (const auto &[name, entry] : r.pools) out.push_back({name, entry.pool});
    return out;
}

void unregister_pool(const std::string &name, const Pool &pool) {
    Registry &r = registry();
    std::shared_ptr<Pool> dropped;  // released after unlocking: it may be the last reference
    std::lock_guard<std::mutex> lock(r.mutex);
    auto found = r.pools.find(name);
    if (found == r.pools.end() || found->second.pool.get() != &pool) return;
    dropped = std::move(found->second.pool);
    r.pools.erase(found);
}

void registered_conninfo_changed(const std::string &name, const Pool &pool, std::string conninfo) {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto found = r.pools.find(name);
    if (found == r.pools.end() || found->second.pool.get() != &pool) return;
    found->second.conninfo = std::move(conninfo);
}

}  // namespace connpool::capi

extern "C" {

CONNPOOL_API connpool_status connpool_registry_get_or_create(connpool_pool **out, const char *name,
                                                             const char *conninfo,
                                                             const connpool_options *options,
                                                             connpool_error **err) {
    const char *function = "connpool_registry_get_or_create";
    if (out == nullptr) return null_argument(err, function, "out");
    *out = nullptr;
    if (name == nullptr) return null_argument(err, function, "name");
    if (conninfo == nullptr) return null_argument(err, function, "conninfo");
    if (!valid_name(name)) return bad_name(err, function, name);
    return guarded(err, [&] {
        PoolSettings settings;
        const connpool_status status = resolve_settings(options, name, settings, err);
        if (status != CONNPOOL_OK) return status;
        install_lease_cells();
        std::shared_ptr<Pool> pool;
        const Error found = find_or_create(name, conninfo, settings, pool);
        if (!found.ok()) return fail(err, found);
        return publish_pool(out, std::move(pool), name);
    });
}

CONNPOOL_API connpool_status connpool_registry_lookup(connpool_pool **out, const char *name,
                                                      connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_registry_lookup", "out");
    *out = nullptr;
    if (name == nullptr) return null_argument(err, "connpool_registry_lookup", "name");
    return guarded(err, [&] {
        std::shared_ptr<Pool> pool;
        {
            Registry &r = registry();
            std::lock_guard<std::mutex> lock(r.mutex);
            auto found = r.pools.find(std::string_view(name));
            if (found != r.pools.end()) pool = found->second.pool;
        }
        if (!pool) return not_found(err, "connpool_registry_lookup", name);
        return publish_pool(out, std::move(pool), name);
    });
}

CONNPOOL_API connpool_status connpool_registry_names(char **out_names, connpool_error **err) {
    if (out_names == nullptr) return null_argument(err, "connpool_registry_names", "out_names");
    *out_names = nullptr;
    return guarded(err, [&] {
        std::string names;
        for (const RegisteredPool &entry : registered_pools()) names += entry.name + "\n";
        *out_names = copy_out(names);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_registry_stats_json(char **out_json, connpool_error **err) {
    if (out_json == nullptr) return null_argument(err, "connpool_registry_stats_json", "out_json");
    *out_json = nullptr;
    return guarded(err, [&] {
        *out_json = copy_out(stats_document());
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_registry_close(const char *name, connpool_error **err) {
    if (name == nullptr) return null_argument(err, "connpool_registry_close", "name");
    return guarded(err, [&] {
        const std::shared_ptr<Pool> pool = take_out(name);
        if (!pool) return not_found(err, "connpool_registry_close", name);
        pool->close();  // unlocked: closing joins the pool's threads
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_registry_close_all(connpool_error **err) {
    return guarded(err, [&] {
        std::map<std::string, Entry, std::less<>> pools;
        {
            Registry &r = registry();
            std::lock_guard<std::mutex> lock(r.mutex);
            pools.swap(r.pools);
        }
        for (auto &[name, entry] : pools) entry.pool->close();
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_registry_set_connection_budget(int32_t max_connections,
                                                                     connpool_error **err) {
    if (max_connections < 0) {
        return fail(err, CONNPOOL_ERR_INVALID_ARGUMENT,
                    "connpool_registry_set_connection_budget: max_connections is negative; pass 0 "
                    "(no budget) or the most connections all registered pools may have open "
                    "together");
    }
    return guarded(err, [&] {
        Registry &r = registry();
        r.limit.store(max_connections, std::memory_order_relaxed);
        r.budget->set_limit(max_connections);
        return CONNPOOL_OK;
    });
}

}  // extern "C"
