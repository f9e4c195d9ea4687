// The status codes of the C API: the one list of them with their descriptions. The values are
// the header's CONNPOOL_* macros (pinned forever); connpool_status_name and
// connpool_status_description read this list, and the bindings read it through them.
#pragma once

// X(macro, one-line description)
#define CONNPOOL_STATUS_LIST(X)                                                                 \
    X(CONNPOOL_OK, "success")                                                                   \
    X(CONNPOOL_ERR_INVALID_ARGUMENT, "an argument is NULL, out of range or malformed")          \
    X(CONNPOOL_ERR_INVALID_HANDLE,                                                              \
      "a handle is not live: already freed or released, of another "                            \
      "kind, or made up")                                                                       \
    X(CONNPOOL_ERR_NO_MEMORY, "memory could not be allocated")                                  \
    X(CONNPOOL_ERR_TIMEOUT, "no connection became available before the acquire timeout")        \
    X(CONNPOOL_ERR_POOL_CLOSED, "the pool was closed")                                          \
    X(CONNPOOL_ERR_CONNECT_FAILED,                                                              \
      "no connection was obtained in time and the latest attempt to "                           \
      "open one failed")                                                                        \
    X(CONNPOOL_ERR_QUERY_FAILED, "the server rejected a statement; the SQLSTATE is available")  \
    X(CONNPOOL_ERR_CONNECTION_BROKEN, "the connection broke during the call")                   \
    X(CONNPOOL_ERR_UNKNOWN_OPTION, "an option key is not known to this version of the library") \
    X(CONNPOOL_ERR_INTERNAL, "a bug in libconnpool: please report it with the message")         \
    X(CONNPOOL_ERR_CANCELED, "an asynchronous acquire was cancelled")                           \
    X(CONNPOOL_ERR_IN_PROGRESS, "an asynchronous acquire or statement has not finished yet")    \
    X(CONNPOOL_ERR_DATABASE_UNAVAILABLE,                                                        \
      "the circuit breaker is open after repeated connect "                                     \
      "failures: failing fast")                                                                 \
    X(CONNPOOL_ERR_TOO_MANY_WAITERS, "more callers are waiting than max_waiting allows")        \
    X(CONNPOOL_ERR_FORKED,                                                                      \
      "the pool belongs to the parent process (this is a child after "                          \
      "fork())")                                                                                \
    X(CONNPOOL_ERR_WOULD_BLOCK, "no connection could be taken without waiting (not a failure)")
