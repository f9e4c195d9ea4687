// The status codes of the C API: the one list of them with their descriptions. The values are
// the header's CONNPOOL_* macros (pinned forever); connpool_status_name and
// connpool_status_description read this list, and the bindings read it through them.
#pragma once

// X(macro, one-line description)
#define CONNPOOL_STATUS_LIST(X)                                                                \
    X(CONNPOOL_OK, "success")                                                                  \
    X(CONNPOOL_ERR_INVALID_ARGUMENT,                                                           \
      "NULL, out-of-range or malformed argument, bad option value, unparsable conninfo, "      \
      "min_size > max_size (the message names it)")                                            \
    X(CONNPOOL_ERR_INVALID_HANDLE,                                                             \
      "released lease, freed pool/result/options, handle of another kind, made-up value")      \
    X(CONNPOOL_ERR_NO_MEMORY, "memory could not be allocated")                                 \
    X(CONNPOOL_ERR_TIMEOUT,                                                                    \
      "no connection within the timeout, the pool being busy (the message gives its state)")   \
    X(CONNPOOL_ERR_POOL_CLOSED, "the pool was closed or freed")                                \
    X(CONNPOOL_ERR_CONNECT_FAILED,                                                             \
      "acquire or wait_ready ended without a connection while the latest connect attempt had " \
      "failed (server down, wrong password, unknown database); the message carries libpq's "   \
      "reason, password removed")                                                              \
    X(CONNPOOL_ERR_QUERY_FAILED,                                                               \
      "the server rejected a statement; SQLSTATE available; the connection is still usable")   \
    X(CONNPOOL_ERR_CONNECTION_BROKEN,                                                          \
      "the connection died during a call; release the lease, the pool replaces it")            \
    X(CONNPOOL_ERR_UNKNOWN_OPTION, "option key unknown to this version of the library")        \
    X(CONNPOOL_ERR_INTERNAL, "a bug in libconnpool; please report the message")                \
    X(CONNPOOL_ERR_CANCELED, "an asynchronous acquire was cancelled")                          \
    X(CONNPOOL_ERR_IN_PROGRESS,                                                                \
      "an asynchronous acquire or statement has no outcome yet (not a failure)")               \
    X(CONNPOOL_ERR_DATABASE_UNAVAILABLE,                                                       \
      "circuit breaker open and no connection to wait for: failing fast; the message carries " \
      "the last connect error; the pool keeps probing and heals by itself")                    \
    X(CONNPOOL_ERR_TOO_MANY_WAITERS, "more callers waiting than max_waiting allows")           \
    X(CONNPOOL_ERR_FORKED,                                                                     \
      "a pool or lease used in a child process after fork(); create a new pool there")         \
    X(CONNPOOL_ERR_WOULD_BLOCK,                                                                \
      "connpool_pool_try_acquire found no connection it could take without waiting (not a "    \
      "failure: wait with connpool_pool_acquire or connpool_pool_acquire_async)")              \
    X(CONNPOOL_ERR_NOT_FOUND, "no registered pool has that name")                              \
    X(CONNPOOL_ERR_CONFLICT,                                                                   \
      "a registered pool has that name with another conninfo or other options (the message "   \
      "names the difference)")
