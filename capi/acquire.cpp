// connpool_pool_acquire_async and connpool_acquire_*: acquiring without blocking.
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "handles.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

HandleRegistry::Ref lookup_acquire(connpool_acquire *acquire) {
    return HandleRegistry::instance().lookup(token_of(acquire), HandleKind::acquire);
}

// The request's eventfd (created on first use); running out of descriptors is reported as
// CONNPOOL_ERR_NO_MEMORY, the closest pinned status.
connpool_status request_fd(AsyncAcquire &request, int &fd, connpool_error **err,
                           const char *function) {
    try {
        fd = request.fd();
        return CONNPOOL_OK;
    } catch (const std::system_error &e) {
        return fail(err, Error(CONNPOOL_ERR_NO_MEMORY,
                               std::string(function) +
                                   ": could not create an eventfd: " + e.code().message()));
    }
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_pool_acquire_async(connpool_acquire **out,
                                                         connpool_pool *pool, int64_t timeout_ms,
                                                         connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_pool_acquire_async", "out");
    *out = nullptr;
    if (pool == nullptr) return null_argument(err, "connpool_pool_acquire_async", "pool");
    return guarded(err, [&] {
        auto ref = HandleRegistry::instance().lookup(token_of(pool), HandleKind::pool);
        if (!ref) return stale_handle(err, "connpool_pool_acquire_async", "pool");
        if (ref.get<PoolObject>()->pool->forked())
            return forked(err, "connpool_pool_acquire_async");
        const std::shared_ptr<Pool> &core = ref.get<PoolObject>()->pool;
        auto object = std::make_unique<AcquireObject>();
        object->request = std::make_unique<AsyncAcquire>(core);
        AsyncAcquire &request = *object->request;
        // Publish before starting: once started, the request may be granted a connection,
        // and only a published handle can give it back (free/cancel).
        *out = publish<connpool_acquire>(HandleKind::acquire, std::move(object));
        try {
            core->start_async(request, timeout_ms);
        } catch (...) {
            connpool_acquire_free(*out);
            *out = nullptr;
            throw;
        }
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_acquire_fd(int32_t *out_fd, connpool_acquire *acquire,
                                                 connpool_error **err) {
    if (out_fd == nullptr) return null_argument(err, "connpool_acquire_fd", "out_fd");
    *out_fd = -1;
    if (acquire == nullptr) return null_argument(err, "connpool_acquire_fd", "acquire");
    return guarded(err, [&] {
        auto ref = lookup_acquire(acquire);
        if (!ref) return stale_handle(err, "connpool_acquire_fd", "acquire");
        if (ref.get<AcquireObject>()->request->pool().forked()) {
            return forked(err, "connpool_acquire_fd");
        }
        int fd = -1;
        const connpool_status status =
            request_fd(*ref.get<AcquireObject>()->request, fd, err, "connpool_acquire_fd");
        if (status == CONNPOOL_OK) *out_fd = fd;
        return status;
    });
}

CONNPOOL_API connpool_status connpool_acquire_result(connpool_lease **out,
                                                     connpool_acquire *acquire,
                                                     connpool_error **err) {
    if (out == nullptr) return null_argument(err, "connpool_acquire_result", "out");
    *out = nullptr;
    if (acquire == nullptr) return null_argument(err, "connpool_acquire_result", "acquire");
    return guarded(err, [&] {
        auto ref = lookup_acquire(acquire);
        if (!ref) return stale_handle(err, "connpool_acquire_result", "acquire");
        AsyncAcquire &request = *ref.get<AcquireObject>()->request;
        if (request.pool().forked()) return forked(err, "connpool_acquire_result");
        Slot *slot = nullptr;
        Error error;
        const connpool_status status =
            request.pool().collect_async(request, slot, err ? &error : nullptr);
        if (status == CONNPOOL_OK) {
            *out = lease_handle(slot);
            return status;
        }
        return err == nullptr || status == CONNPOOL_ERR_IN_PROGRESS ? status : fail(err, error);
    });
}

CONNPOOL_API connpool_status connpool_acquire_wait(connpool_acquire *acquire, int64_t timeout_ms,
                                                   connpool_error **err) {
    if (acquire == nullptr) return null_argument(err, "connpool_acquire_wait", "acquire");
    return guarded(err, [&] {
        auto ref = lookup_acquire(acquire);
        if (!ref) return stale_handle(err, "connpool_acquire_wait", "acquire");
        if (ref.get<AcquireObject>()->request->pool().forked()) {
            return forked(err, "connpool_acquire_wait");
        }
        const TimePoint deadline = deadline_after(timeout_ms < 0 ? INT64_MAX : timeout_ms);
        int fd = -1;
        const connpool_status status =
            request_fd(*ref.get<AcquireObject>()->request, fd, err, "connpool_acquire_wait");
        if (status != CONNPOOL_OK) return status;
        pollfd p{fd, POLLIN, 0};
        for (;;) {
            const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
            // poll() takes an int: wait in slices of at most a minute.
            const int rc = poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left, 0, 60'000)));
            if (rc > 0) return CONNPOOL_OK;
            if (rc < 0 && errno != EINTR) {
                return fail(err, CONNPOOL_ERR_INTERNAL, "connpool_acquire_wait: poll failed");
            }
            if (left <= 0) return CONNPOOL_ERR_IN_PROGRESS;
        }
    });
}

CONNPOOL_API connpool_status connpool_acquire_cancel(connpool_acquire *acquire) {
    if (acquire == nullptr) return misuse(CONNPOOL_ERR_INVALID_ARGUMENT);
    return guarded(nullptr, [&] {
        auto ref = lookup_acquire(acquire);
        if (!ref) return misuse(CONNPOOL_ERR_INVALID_HANDLE);
        AsyncAcquire &request = *ref.get<AcquireObject>()->request;
        if (request.pool().forked()) return CONNPOOL_ERR_FORKED;
        request.pool().cancel_async(request);
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_acquire_free(connpool_acquire *acquire) {
    if (acquire == nullptr) return CONNPOOL_OK;
    return guarded(nullptr, [&] {
        {
            auto ref = lookup_acquire(acquire);
            if (!ref) return misuse(CONNPOOL_ERR_INVALID_HANDLE);
            AsyncAcquire &request = *ref.get<AcquireObject>()->request;
            if (request.pool().forked()) return CONNPOOL_ERR_FORKED;
            // Cancel first: a thread blocked in connpool_acquire_wait on this request then
            // wakes and drops its reference, so the retire below does not wait for it.
            request.pool().cancel_async(request);
        }
        auto object = retire<AcquireObject>(HandleKind::acquire, acquire);
        if (!object) return misuse(CONNPOOL_ERR_INVALID_HANDLE);
        object->request->pool().cancel_async(*object->request);  // unlink / give back
        return CONNPOOL_OK;
    });
}

}  // extern "C"
