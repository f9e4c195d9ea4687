#include "pg/statement_cache.hpp"

#include <unistd.h>

#include <atomic>
#include <random>

#include <fmt/format.h>

#include "pg/session_effects.hpp"

namespace connpool {
namespace {

// Unique across processes, not just per connection: behind a proxy that shares server sessions
// (PgBouncer in transaction mode before 1.21) between the connections of many processes, another
// client's "_connpool_0" must never be executed in place of ours. A random token drawn once per
// process (the same in a forked child, hence the process id too) and a counter: a foreign
// session fails with 26000 instead, which the cache handles.
std::string next_statement_name() {
    static std::atomic<uint64_t> next{0};
    return fmt::format("{}{}_{}", statement_name_prefix(), ::getpid(),
                       next.fetch_add(1, std::memory_order_relaxed));
}

// Names waiting for DEALLOCATE beyond this many (a session that never goes idle) are dropped:
// the statements then stay on the server until the connection closes.
constexpr size_t kMaxPendingDeallocations = 1000;

}  // namespace

const std::string &statement_name_prefix() {
    static const std::string prefix = [] {
        std::random_device device;
        const uint64_t token = (static_cast<uint64_t>(device()) << 32) ^ device();
        return fmt::format("_connpool_{:x}_", token);
    }();
    return prefix;
}

void StatementCache::erase(List &list, List::iterator it) {
    index_.erase(Key{it->sql, it->n_params});
    list.erase(it);
}

StatementCache::Use StatementCache::use(std::string_view sql, int32_t n_params) {
    if (!enabled()) return {};
    const auto found = index_.find(Key{sql, n_params});
    if (found != index_.end()) {
        auto [list, it] = found->second;
        if (list == &prepared_) {
            if (it != prepared_.begin()) prepared_.splice(prepared_.begin(), prepared_, it);
            return {&it->name, false, true, it->changes_session};
        }
        const bool changes = it->changes_session;
        if (++it->uses <= config_.prepare_threshold) {
            if (it != counting_.begin()) counting_.splice(counting_.begin(), counting_, it);
            return {nullptr, false, true, changes};
        }
        // Promote: from now on this text runs as a named prepared statement.
        prepared_.splice(prepared_.begin(), counting_, it);
        found->second.first = &prepared_;
        it->name = next_statement_name();
        evict_beyond_capacity();
        return {&it->name, true, true, changes};
    }
    const bool prepare_now = config_.prepare_threshold == 0;
    List &list = prepare_now ? prepared_ : counting_;
    const bool changes = may_change_session(sql);
    list.push_front(Entry{std::string(sql), n_params, {}, 1, changes});
    index_.emplace(Key{list.front().sql, n_params}, std::make_pair(&list, list.begin()));
    if (prepare_now) {
        list.front().name = next_statement_name();
        evict_beyond_capacity();
        return {&prepared_.front().name, true, true, changes};
    }
    // Counting entries are bounded too (by the same size), so one-off texts cannot pile up.
    if (counting_.size() > static_cast<size_t>(config_.capacity)) {
        erase(counting_, std::prev(counting_.end()));
    }
    return {nullptr, false, true, changes};
}

void StatementCache::evict_beyond_capacity() {
    while (prepared_.size() > static_cast<size_t>(config_.capacity)) {
        auto last = std::prev(prepared_.end());
        if (to_deallocate_.size() < kMaxPendingDeallocations) {
            to_deallocate_.push_back(std::move(last->name));
        }
        erase(prepared_, last);
    }
}

void StatementCache::forget(const std::string &name, bool exists_on_server) {
    for (auto it = prepared_.begin(); it != prepared_.end(); ++it) {
        if (it->name != name) continue;
        if (exists_on_server && to_deallocate_.size() < kMaxPendingDeallocations) {
            to_deallocate_.push_back(it->name);
        }
        erase(prepared_, it);
        return;
    }
}

void StatementCache::forget_all(bool server_dropped) {
    if (server_dropped) {
        to_deallocate_.clear();
    } else {
        for (Entry &e : prepared_) {
            if (to_deallocate_.size() < kMaxPendingDeallocations) {
                to_deallocate_.push_back(std::move(e.name));
            }
        }
    }
    index_.clear();
    prepared_.clear();
    counting_.clear();
}

}  // namespace connpool
