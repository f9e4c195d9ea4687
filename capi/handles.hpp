// The objects behind the C handles, and the shim's error plumbing.
//
// C handles are HandleRegistry tokens (see handle_registry.hpp), never addresses.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "connpool/connpool.h"
#include "core/error.hpp"
#include "core/pool.hpp"
#include "core/pool_group.hpp"
#include "handle_registry.hpp"
#include "pg/result.hpp"
#include "pg/settings.hpp"

struct connpool_error {
    connpool_status status;
    std::string message;
    std::string sqlstate;
};

namespace connpool::capi {

struct OptionsObject {
    PoolSettings settings;
};
struct PoolObject {
    std::shared_ptr<Pool> pool;
    // A handle of a registered pool: freeing it frees only the handle, closing it closes the
    // pool and unregisters it (see capi/registry.hpp). Empty for pools made by
    // connpool_pool_create.
    std::string registry_name;
};
struct GroupObject {
    std::shared_ptr<PoolGroup> group;
};
struct AcquireObject {
    std::unique_ptr<AsyncAcquire> request;
};
// A connpool_result is its QueryResult itself: one allocation per statement, not two.

template <class Handle>
HandleRegistry::Token token_of(const Handle *handle) {
    return static_cast<HandleRegistry::Token>(reinterpret_cast<uintptr_t>(handle));
}
template <class Handle>
Handle *handle_of(HandleRegistry::Token token) {
    return reinterpret_cast<Handle *>(static_cast<uintptr_t>(token));
}

// A slot's lease handle: published in the slot's own registry cell (its SlotTagHooks word, see
// install_lease_cells), so acquiring never allocates a handle.
inline connpool_lease *lease_handle(Slot *slot) {
    return handle_of<connpool_lease>(
        HandleRegistry::instance().publish(static_cast<uint32_t>(slot->tag), slot));
}
// Gives every slot created from now on a registry cell for its lease tokens. Installs the hooks
// once per process; every pool creation calls it first.
void install_lease_cells();

// Registers `object` (taking ownership) and returns its token as a C handle.
template <class Handle, class Object>
Handle *publish(HandleKind kind, std::unique_ptr<Object> object) {
    HandleRegistry &registry = HandleRegistry::instance();
    const uint32_t cell = registry.allocate_cell(kind);
    return handle_of<Handle>(registry.publish(cell, object.release()));
}

// Ends a handle's life: returns its object (caller owns it) or nullptr if it was not live.
template <class Object, class Handle>
std::unique_ptr<Object> retire(HandleKind kind, Handle *handle) {
    void *object = HandleRegistry::instance().retire(token_of(handle), kind, true);
    return std::unique_ptr<Object>(static_cast<Object *>(object));
}

// Counts `status` in connpool_misuse_count() if it is INVALID_ARGUMENT or INVALID_HANDLE, and
// returns it. Every refusal of a bad argument or handle goes through here.
connpool_status misuse(connpool_status status) noexcept;

// Reports a failure through `err` (if the caller asked for details) and returns `status`.
connpool_status fail(connpool_error **err, connpool_status status, const char *message) noexcept;
connpool_status fail(connpool_error **err, const Error &error) noexcept;

// Standard messages for bad arguments and handles.
connpool_status null_argument(connpool_error **err, const char *function,
                              const char *name) noexcept;
connpool_status stale_handle(connpool_error **err, const char *function, const char *kind) noexcept;
// A caller's versioned struct (struct_size first) that does not reach `minimum` bytes.
connpool_status struct_too_small(connpool_error **err, const char *function,
                                 const char *type) noexcept;
// An index outside [0, count).
connpool_status index_out_of_range(connpool_error **err, const char *function,
                                   const char *count_function) noexcept;

// Fills the caller's versioned struct with `info`, no further than the struct_size it set (an
// older caller's struct is shorter: it gets the fields it knows).
template <class Info>
void copy_sized(Info *out, Info info, uint32_t size) {
    info.struct_size = static_cast<uint32_t>(std::min<size_t>(size, sizeof info));
    std::memcpy(out, &info, info.struct_size);
}

// A pool or lease used in a child process after fork().
connpool_status forked(connpool_error **err, const char *function) noexcept;

// Runs `body`, turning any exception into a status: the C boundary never throws.
template <class Body>
connpool_status guarded(connpool_error **err, Body &&body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return fail(err, CONNPOOL_ERR_NO_MEMORY, "out of memory");
    } catch (const std::exception &e) {
        return fail(err, Error(CONNPOOL_ERR_INTERNAL,
                               std::string("internal error (please report it): ") + e.what()));
    } catch (...) {
        return fail(err, CONNPOOL_ERR_INTERNAL, "internal error (please report it)");
    }
}

// The C struct of a stats snapshot (capi/stats.cpp checks that it mirrors kStatFields).
connpool_stats to_c_stats(const PoolStats &stats);

// Publishes a new handle to `pool` (of the registered pool `registry_name`, if not empty).
connpool_status publish_pool(connpool_pool **out, std::shared_ptr<Pool> pool,
                             std::string registry_name = {});

// Test hook (not exported): a pool over any Connector, e.g. the unit tests' fake one.
connpool_status create_pool(connpool_pool **out, std::unique_ptr<Connector> connector,
                            const connpool_options *options, connpool_error **err);

}  // namespace connpool::capi
