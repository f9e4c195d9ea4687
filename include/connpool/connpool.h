/*
 * libconnpool: a PostgreSQL connection pool with a stable C ABI.
 *
 * This is the only public header and the complete reference. It compiles as C99 and as C++.
 * Every function's documentation ends with the same lines:
 *   Returns: every status (or value) it can return, and when;
 *   Blocks:  whether it can block, on what, and for how long at most;
 *   Threads: which calls may run at the same time on the same object.
 *
 * General rules (they hold for every function below unless its documentation says otherwise):
 *
 *  - Names: functions and types are `connpool_*`, macros and constants `CONNPOOL_*`.
 *
 *  - Handles: `connpool_options`, `connpool_pool`, `connpool_lease`, `connpool_acquire` and
 *    `connpool_result` are opaque, generation-tagged tokens, not addresses. Never dereference
 *    them. A handle that was freed or released, a handle of another kind, or a made-up value is
 *    detected and answered with CONNPOOL_ERR_INVALID_HANDLE (or, where a function returns no
 *    status, its documented sentinel value); it never crashes the process. A NULL handle is
 *    accepted by the *_free functions, treated as a bad handle by the connpool_result_*
 *    accessors, and refused with CONNPOOL_ERR_INVALID_ARGUMENT everywhere else.
 *    `connpool_error` objects and the strings of connpool_pool_stats_json() are plain
 *    allocations, not handles: freeing one twice, or using one after its free, is undefined
 *    behaviour.
 *
 *  - Ownership: what the library allocates for the caller is the caller's, to be freed once with
 *    the matching function: connpool_options_free, connpool_pool_free, connpool_lease_release,
 *    connpool_acquire_free, connpool_result_free, connpool_error_free, connpool_string_free.
 *    Inputs (strings, arrays, options) are copied or only read during the call: the caller may
 *    free them as soon as it returns. Results outlive their lease and pool; leases and
 *    asynchronous acquires outlive their pool's handle (the pool's memory goes with the last).
 *    Freeing or releasing a handle waits for calls still running on that same handle in other
 *    threads to return, so memory is never freed under a call; later calls get
 *    CONNPOOL_ERR_INVALID_HANDLE.
 *
 *  - Statuses: fallible functions return a `connpool_status` (0 = CONNPOOL_OK). Codes are pinned
 *    integers and are never renumbered. CONNPOOL_ERR_IN_PROGRESS and CONNPOOL_ERR_WOULD_BLOCK are
 *    answers, not failures: no error object is made for them. CONNPOOL_ERR_NO_MEMORY and
 *    CONNPOOL_ERR_INTERNAL can come from any function that lists them: an exception inside the
 *    library is turned into one of them (the C boundary never throws). Refusals with
 *    CONNPOOL_ERR_INVALID_ARGUMENT or CONNPOOL_ERR_INVALID_HANDLE are counted by
 *    connpool_misuse_count().
 *
 *  - Arguments: out-parameters come first, inputs next, and `connpool_error **err` last. A NULL
 *    pointer gives CONNPOOL_ERR_INVALID_ARGUMENT unless the function says NULL is allowed. An
 *    out-parameter is reset first (pointers to NULL, descriptors to -1, as each function says),
 *    so it holds no stale value after a failure; structs filled by *_describe and
 *    connpool_pool_stats are left unchanged on failure.
 *
 *  - err: may be NULL (no details). If not NULL, `*err` must be NULL on entry; on failure it
 *    receives a new error object (status, message, SQLSTATE) that the caller frees with
 *    connpool_error_free(). If `*err` is not NULL on entry it is left untouched and no detail is
 *    returned; if memory for the details runs out, `*err` stays NULL and the status alone tells.
 *    On success `*err` is not touched. There is no thread-local "last error": a message is never
 *    lost when a caller changes threads.
 *
 *  - Strings: NUL-terminated UTF-8. A `const char *` returned by the library belongs to the
 *    object it came from and stays valid until that object is freed; "static storage" means
 *    valid for the life of the process.
 *
 *  - Durations are int64 milliseconds (exceptions: the overtake_window_us option and the *_us
 *    statistics are microseconds), measured on the monotonic clock. A `timeout_ms` argument:
 *    positive = wait at most that long, 0 = do not wait, negative = the pool's acquire_timeout
 *    option (connpool_acquire_wait: no limit).
 *
 *  - Blocking: "never" means no network I/O and no waiting for another party. Such a call may
 *    still take a pool's internal mutex, which is never held across I/O. Log lines (off unless
 *    the log_level option or $CONNPOOL_LOG_LEVEL enables them) are written to stderr by the
 *    thread that logs, which may be the caller's; with a log callback set
 *    (connpool_log_set_callback) they are queued instead, and the callback is the only user
 *    code the library calls, from its own delivery thread.
 *
 *  - Threads: functions on a pool (connpool_pool_*) and on an asynchronous acquire
 *    (connpool_acquire_*) are thread-safe. A lease is used by one thread at a time (any thread,
 *    one after another, is fine: leases are not tied to OS threads); connpool_lease_cancel is the
 *    one call that may overlap another call on the same lease. A result is immutable: its
 *    accessors may run in several threads at once. An options set is used by one thread at a
 *    time, and must not change while connpool_pool_create() copies it. An error object is the
 *    caller's plain data. Functions that take no handle are thread-safe.
 *
 *  - fork(): a pool, its leases and its asynchronous acquires belong to the process that created
 *    the pool. In a child after fork() calls on them return CONNPOOL_ERR_FORKED and leave the
 *    parent's connections alone (the parent keeps using them); create new pools in the child.
 *    Exceptions: connpool_pool_free() returns CONNPOOL_OK there, dropping the handle without
 *    closing anything (the pool's memory is deliberately leaked in the child). Options,
 *    results, errors and strings stay usable in the child. As with any multithreaded library, a
 *    fork() while another thread is inside a libconnpool call can leave an internal lock held in
 *    the child: fork() from a quiet point.
 *
 *  - Passwords: the conninfo's password never appears in a message or log line of the library
 *    (it is masked as ********, and conninfo parse errors do not quote the input).
 */
#ifndef CONNPOOL_CONNPOOL_H
#define CONNPOOL_CONNPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CONNPOOL_BUILDING_LIBRARY) && defined(__GNUC__)
#define CONNPOOL_API __attribute__((visibility("default")))
#else
#define CONNPOOL_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------------- */

#define CONNPOOL_VERSION_MAJOR 0
#define CONNPOOL_VERSION_MINOR 1
#define CONNPOOL_VERSION_PATCH 0
#define CONNPOOL_VERSION_STRING "0.1.0"
/** MAJOR * 10000 + MINOR * 100 + PATCH, e.g. 100 for 0.1.0. */
#define CONNPOOL_VERSION_NUMBER \
    (CONNPOOL_VERSION_MAJOR * 10000 + CONNPOOL_VERSION_MINOR * 100 + CONNPOOL_VERSION_PATCH)

/**
 * The library's version string.
 *
 * Returns: e.g. "0.1.0"; static storage, never NULL.
 * Blocks:  never.
 * Threads: any.
 */
CONNPOOL_API const char *connpool_version(void);

/**
 * The library's version as CONNPOOL_VERSION_NUMBER computes it. Compare it with the macro to
 * detect a header/library mismatch at run time.
 *
 * Returns: e.g. 100 for 0.1.0.
 * Blocks:  never.
 * Threads: any.
 */
CONNPOOL_API int32_t connpool_version_number(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------------------------- */

/** A status code: one of the CONNPOOL_* values below. Values are pinned forever. */
typedef int32_t connpool_status;

#define CONNPOOL_OK 0
/**
 * An argument is NULL, out of range or malformed (the message names it), or the call does not
 * fit the object's state (a statement already pending or none pending on a lease, an
 * asynchronous acquire already collected).
 */
#define CONNPOOL_ERR_INVALID_ARGUMENT 1
/** A handle is not live: already freed or released, of another kind, or made up. */
#define CONNPOOL_ERR_INVALID_HANDLE 2
/** Memory (or, for connpool_acquire_fd/_wait, a file descriptor) could not be allocated. */
#define CONNPOOL_ERR_NO_MEMORY 3
/**
 * No connection became available before the acquire's timeout (or, for
 * connpool_pool_wait_ready, min_size connections were not open in time).
 */
#define CONNPOOL_ERR_TIMEOUT 4
/** The pool was closed (connpool_pool_close or connpool_pool_free). */
#define CONNPOOL_ERR_POOL_CLOSED 5
/**
 * No connection was obtained in time and the latest attempt to open one failed (server down,
 * wrong password, unknown database...): the message carries libpq's reason, password removed.
 */
#define CONNPOOL_ERR_CONNECT_FAILED 6
/**
 * The server rejected a statement; the SQLSTATE is available. Also a COPY statement, which
 * connpool_lease_exec refuses (without SQLSTATE; see there).
 */
#define CONNPOOL_ERR_QUERY_FAILED 7
/**
 * The connection broke during the call (server gone, socket closed, protocol error), or an
 * earlier call left it unusable; release the lease. connpool_lease_cancel: the cancel request
 * could not be delivered.
 */
#define CONNPOOL_ERR_CONNECTION_BROKEN 8
/** An option key is not known to this version of the library. */
#define CONNPOOL_ERR_UNKNOWN_OPTION 9
/**
 * An unexpected failure: a bug in libconnpool (please report it with the message), or a system
 * failure no other status covers (threads that could not be started, poll() failing).
 */
#define CONNPOOL_ERR_INTERNAL 10
/** An asynchronous acquire was cancelled (connpool_acquire_cancel / connpool_acquire_free). */
#define CONNPOOL_ERR_CANCELED 11
/** An asynchronous acquire or statement has not finished yet: wait for its fd, then ask again. */
#define CONNPOOL_ERR_IN_PROGRESS 12
/**
 * The circuit breaker is open after repeated connect failures (or a single authentication
 * failure or unknown database) and the pool has no open connection that could come back:
 * failing fast (the message carries the last connect error). Retries continue in the
 * background; the pool heals by itself.
 */
#define CONNPOOL_ERR_DATABASE_UNAVAILABLE 13
/** max_waiting callers (blocking and asynchronous) already wait: see the max_waiting option. */
#define CONNPOOL_ERR_TOO_MANY_WAITERS 14
/** The pool was created in another process (this is a child after fork()); create a new pool. */
#define CONNPOOL_ERR_FORKED 15
/** connpool_pool_try_acquire found no connection it could take without waiting (not a failure). */
#define CONNPOOL_ERR_WOULD_BLOCK 16
/** No registered pool has that name (connpool_registry_lookup, connpool_registry_close). */
#define CONNPOOL_ERR_NOT_FOUND 17
/** A registered pool has that name with another conninfo or other options (the message names
 *  what differs, never a value of a password). */
#define CONNPOOL_ERR_CONFLICT 18

/** Details of a failure: status, message and (for query failures) SQLSTATE. */
typedef struct connpool_error connpool_error;

/**
 * The status carried by `error`.
 *
 * Returns: that status; CONNPOOL_ERR_INVALID_ARGUMENT if `error` is NULL (not counted by
 *          connpool_misuse_count).
 * Blocks:  never.
 * Threads: any; an error object is immutable until freed.
 */
CONNPOOL_API connpool_status connpool_error_status(const connpool_error *error);

/**
 * A human-readable message: what went wrong and what to do about it.
 *
 * Returns: the message, valid until connpool_error_free(error); "" for a NULL `error`. Never
 *          NULL.
 * Blocks:  never.
 * Threads: any; an error object is immutable until freed.
 */
CONNPOOL_API const char *connpool_error_message(const connpool_error *error);

/**
 * The SQLSTATE of the failure.
 *
 * Returns: the five characters for CONNPOOL_ERR_QUERY_FAILED (except a refused COPY), for
 *          CONNPOOL_ERR_CONNECTION_BROKEN when the server said why (e.g. "57P01" for a
 *          terminated backend), and for CONNPOOL_ERR_CONNECT_FAILED and
 *          CONNPOOL_ERR_DATABASE_UNAVAILABLE when the server sent one with the latest failed
 *          connect (e.g. "28P01" for a wrong password, or the init_sql's); "" otherwise and for
 *          a NULL `error`. Never NULL; valid until connpool_error_free(error).
 * Blocks:  never.
 * Threads: any; an error object is immutable until freed.
 */
CONNPOOL_API const char *connpool_error_sqlstate(const connpool_error *error);

/**
 * Frees an error object.
 *
 * Returns: nothing. NULL is allowed and ignored. An error object is not a handle: freeing it
 *          twice is undefined behaviour.
 * Blocks:  never.
 * Threads: once, when no other thread uses the error or its strings.
 */
CONNPOOL_API void connpool_error_free(connpool_error *error);

/**
 * The symbolic name of a status.
 *
 * Returns: e.g. "CONNPOOL_ERR_TIMEOUT"; "CONNPOOL_UNKNOWN_STATUS" for a value this version does
 *          not define. Static storage; never NULL.
 * Blocks:  never.
 * Threads: any.
 */
CONNPOOL_API const char *connpool_status_name(connpool_status status);

/**
 * A one-line description of a status.
 *
 * Returns: e.g. "the pool was closed or freed"; a fixed text for a value this version does not
 *          define. Static storage; never NULL.
 * Blocks:  never.
 * Threads: any.
 */
CONNPOOL_API const char *connpool_status_description(connpool_status status);

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

/**
 * A set of pool options, set by key and string value so that adding an option never changes
 * the ABI. Not thread-safe: build it on one thread, then pass it to connpool_pool_create(),
 * which copies it.
 *
 * connpool_option_count() and connpool_option_describe() enumerate every option at run time
 * (key, kind, default, range, one-line description). This version has these, in that order
 * (key (kind, default, accepted range): meaning; "0 = ..." gives the special meaning of 0):
 *
 *   name (string, "pool", at most 64 bytes): the pool's name in log lines and stats JSON.
 *   min_size (integer, 0, 0..10000): connections kept open even when idle, opened in the
 *       background (see connpool_pool_wait_ready).
 *   max_size (integer, 10, 1..10000): connections kept at most, without overflow.
 *   max_overflow (integer, 0, 0..10000): extra connections allowed under load, closed again
 *       when released while nobody waits.
 *   acquire_timeout (duration ms, 30000, 0..86400000): the wait used for a negative
 *       timeout_ms (acquire, asynchronous acquire, wait_ready).
 *   connect_timeout (duration ms, 10000, 1..3600000): limit for opening one connection. It
 *       replaces libpq's connect_timeout, which is ignored if the conninfo sets it.
 *   max_lifetime (duration ms, 3600000, 0..2592000000): connections are closed after this age,
 *       minus up to 5% random jitter: when idle or returned, never while leased (0 = never).
 *   max_idle (duration ms, 600000, 0..2592000000): idle connections above min_size are closed
 *       after this long (0 = never).
 *   pre_ping (boolean, on): a round trip checks a connection idle for at least
 *       pre_ping_threshold before it is handed out; a dead one is replaced.
 *   pre_ping_threshold (duration ms, 1000, 0..86400000): see pre_ping (0 = on every hand-out).
 *   health_check_timeout (duration ms, 5000, 1..3600000): limit for one pre-ping, and for the
 *       rollback and reset_query after a release.
 *   maintenance_interval (duration ms, 1000, 10..3600000): how often idle and expired
 *       connections are closed and min_size is restored.
 *   max_concurrent_connects (integer, 2, 1..64): connection attempts in flight at once: the
 *       number of background worker threads, which also run the rollbacks/reset_query.
 *   max_waiting (integer, 0, 0..1000000): callers allowed to wait at once (blocking and
 *       asynchronous acquires with a positive timeout); beyond it they fail at once with
 *       CONNPOOL_ERR_TOO_MANY_WAITERS (0 = unlimited).
 *   overtake_window_us (integer, 200, 0..1000000): microseconds a blocking waiter lets running
 *       threads take connections released meanwhile, see connpool_pool_acquire (0 = strict
 *       first come, first served).
 *   leak_threshold (duration ms, 0, 0..2592000000): a lease held longer is reported once in the
 *       log, with its label (connpool_lease_set_label), and counted (0 = off).
 *   breaker_threshold (integer, 5, 0..1000): consecutive connect failures that open the circuit
 *       breaker (CONNPOOL_ERR_DATABASE_UNAVAILABLE); an authentication failure (SQLSTATE 28xxx)
 *       or an unknown database (3D000) opens it at once (0 = never, not even then).
 *   health_degraded_utilisation (integer, 80, 0..100): the health verdict is degraded when
 *       this percentage of max_size + max_overflow or more is in use (see "Health").
 *   health_unhealthy_utilisation (integer, 95, 0..100): unhealthy when more than this
 *       percentage is in use; must not be below health_degraded_utilisation.
 *   health_error_window (duration ms, 60000, 1000..86400000): how long failed connects,
 *       acquire timeouts and broken connections count as recent errors (any: degraded).
 *   health_unhealthy_errors (integer, 10, 0..1000000): unhealthy with more recent errors.
 *   log_level (choice of trace, debug, info, warn, error, critical, off; default ""): the
 *       pool's log level. The default "" means $CONNPOOL_LOG_LEVEL as read when the pool is
 *       created, else off; connpool_options_set refuses "" (leave the option unset instead).
 *   keepalive_interval (duration ms, 0, 0..86400000): maintenance checks connections idle longer
 *       than this (one at a time, outside the lock: cheap check, then a ping) and replaces dead
 *       ones, so a killed backend or a NAT idle timer is noticed without an acquire; skipped
 *       while callers wait (0 = off).
 *   min_idle (integer, 0, 0..10000): idle connections kept open above those in use, up to
 *       max_size, opened in the background (0 = none beyond min_size).
 *   target_utilisation (integer, 0, 0..100): percent; while in_use/total stays above it the pool
 *       opens connections ahead of demand (up to max_size, max_concurrent_connects at a time), and
 *       max_idle closes them again when the load falls (0 = off).
 *   idle_order (choice of lifo, fifo; default lifo): which idle connection an acquire takes: the
 *       most recently used (lifo: fewer connections stay warm, the rest idle out) or the least
 *       recently used (fifo: use spreads over every connection).
 *   thread_affinity (boolean, off): an acquire first tries the idle connection its thread last
 *       released (HikariCP's thread-local list). Off by default: asyncio tasks and goroutines
 *       share OS threads, so the thread says little about the caller.
 *   recovery_probe_interval (duration ms, 250, 10..60000): while callers wait on a pool that
 *       cannot connect (server down), a connection attempt is made at least this often, so the
 *       pool serves again soon after the server is back; without waiters the backoff applies.
 *   reset_query (string, "", at most 4096 bytes): SQL run on every returned connection before
 *       reuse, after the session reset chosen by `reset` and before init_sql is re-applied
 *       ("" = none).
 *   reset (choice auto|always|rollback, "auto"): what a returned connection's session goes
 *       through. auto: a full reset after any lease that may have changed its session (a
 *       statement not classified neutral by the library's scanner, connpool_lease_pgconn, a
 *       changed session_authorization); always: after every lease; rollback: only an open
 *       transaction is rolled back (session state reaches the next lease; a changed session
 *       user closes the connection). The full reset, on a background worker within
 *       health_check_timeout: ROLLBACK if needed, SET SESSION AUTHORIZATION DEFAULT, RESET ALL,
 *       CLOSE ALL, UNLISTEN *, pg_advisory_unlock_all(), DISCARD TEMP, DISCARD SEQUENCES, the
 *       caller's prepared statements deallocated (the cache's kept), then reset_query and
 *       init_sql. A failed reset closes the connection (statistic reset_failures). Changes made
 *       inside views, triggers or functions the scanner cannot see are missed by auto (README
 *       "Session reset").
 *   statement_cache_size (integer, 100, 0..10000): prepared statements kept per connection by
 *       connpool_lease_exec/_send, least recently used evicted (0 = never prepare, e.g. behind
 *       PgBouncer in transaction mode before 1.21).
 *   prepare_threshold (integer, 5, 0..1000000): executions of a statement text on a connection
 *       before it is prepared there (0 = prepare on the first execution).
 *   init_sql (string, "", at most 4096 bytes): SQL run on every new connection before its first
 *       use, within connect_timeout (e.g. "SET search_path TO app"); a failure is a failed
 *       connect that carries the statement's SQLSTATE.
 */
typedef struct connpool_options connpool_options;

/**
 * Creates an options set holding every default. Free it with connpool_options_free().
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out`),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: any; the new set is the caller's.
 */
CONNPOOL_API connpool_status connpool_options_new(connpool_options **out, connpool_error **err);

/**
 * Sets `key` to `value`, validated at once. On failure the options are unchanged. Integers and
 * durations are decimal integers in the option's unit (no '+', spaces or unit suffix); booleans
 * accept on/off, true/false, yes/no, 1/0 (lower case only); a choice is exactly one of its
 * words; a string must fit the length limit. Rules that involve several options
 * (min_size <= max_size) are checked by connpool_pool_create(), not here.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_UNKNOWN_OPTION (the key is not known; the message lists
 *          the known keys; not counted by connpool_misuse_count), CONNPOOL_ERR_INVALID_ARGUMENT
 *          (NULL `options`, `key` or `value`; a malformed or out-of-range value: the message
 *          names the key and its accepted values), CONNPOOL_ERR_INVALID_HANDLE,
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: one thread at a time per options set.
 */
CONNPOOL_API connpool_status connpool_options_set(connpool_options *options, const char *key,
                                                  const char *value, connpool_error **err);

/** Values of connpool_option_info.kind: how connpool_options_set reads the value. */
#define CONNPOOL_OPTION_INTEGER 1     /**< decimal integer within [min, max] */
#define CONNPOOL_OPTION_DURATION_MS 2 /**< milliseconds, decimal, within [min, max] */
#define CONNPOOL_OPTION_BOOLEAN 3     /**< on/off, true/false, yes/no, 1/0 */
#define CONNPOOL_OPTION_STRING 4      /**< text of at most `max` bytes */
#define CONNPOOL_OPTION_CHOICE 5      /**< one of the comma-separated words in `choices` */

/**
 * The description of one option. Set `struct_size` to sizeof(connpool_option_info) before
 * calling connpool_option_describe(): fields may be appended in later versions, and only those
 * that fit are filled. Strings have static storage.
 */
typedef struct connpool_option_info {
    uint32_t struct_size;      /**< in: sizeof(connpool_option_info) as the caller knows it */
    uint32_t reserved0;        /**< always 0 */
    const char *key;           /**< what connpool_options_set() takes, e.g. "max_size" */
    const char *description;   /**< one line: what it does, and what 0 or "" means */
    const char *default_value; /**< the default, in connpool_options_set() form; log_level: "" */
    const char *choices; /**< CONNPOOL_OPTION_CHOICE: accepted words, comma-separated; else "" */
    int64_t min;         /**< INTEGER, DURATION_MS: smallest accepted value */
    int64_t max;         /**< INTEGER, DURATION_MS: largest; STRING: the length limit */
    int32_t kind;        /**< CONNPOOL_OPTION_* */
    uint32_t reserved1;  /**< always 0 */
} connpool_option_info;

/**
 * The number of options this version knows; they are indexed 0 .. count-1.
 *
 * Returns: the count (21 in this version); 0 only if memory ran out building the list on the
 *          first call.
 * Blocks:  never.
 * Threads: any.
 */
CONNPOOL_API int32_t connpool_option_count(void);

/**
 * Describes option `index` (0 .. connpool_option_count() - 1) into `*out`, whose struct_size the
 * caller set: the first min(struct_size, sizeof(connpool_option_info)) bytes are written, and
 * struct_size is set to that size.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out`, struct_size below 8, index out
 *          of range; `*out` unchanged), CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL (building
 *          the list on the first call).
 * Blocks:  never.
 * Threads: any.
 */
CONNPOOL_API connpool_status connpool_option_describe(connpool_option_info *out, int32_t index,
                                                      connpool_error **err);

/**
 * Frees an options set. A double free is detected, not undefined behaviour.
 *
 * Returns: CONNPOOL_OK (also for NULL); CONNPOOL_ERR_INVALID_HANDLE (already freed, another kind
 *          of handle, made up).
 * Blocks:  only while another thread is inside a call on the same set (e.g. a
 *          connpool_pool_create copying it).
 * Threads: once per set; of concurrent frees exactly one returns CONNPOOL_OK.
 */
CONNPOOL_API connpool_status connpool_options_free(connpool_options *options);

/* ---------------------------------------------------------------------------------------------
 * Pool
 * ------------------------------------------------------------------------------------------- */

/** A pool of PostgreSQL connections to one server/database/user. */
typedef struct connpool_pool connpool_pool;

/**
 * Creates a pool. `conninfo` is a libpq connection string, key=value ("host=/run/pg
 * dbname=app") or URI ("postgresql://user@host/app"), at most 65536 bytes; it is parsed here
 * (syntax and keywords) but no connection is opened by this call. `options` may be NULL (all
 * defaults); it is copied and may be freed at once. min_size connections are then opened in
 * the background; use connpool_pool_wait_ready() to wait for them.
 *
 * Connections are opened with libpq's non-blocking connect, bounded by the connect_timeout
 * option (libpq's connect_timeout keyword has no effect), with these defaults that the conninfo
 * may override: keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3
 * tcp_user_timeout=60000 (TCP only: a silent peer is noticed in about a minute)
 * fallback_application_name=libconnpool.
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or
 *          `conninfo`, conninfo too long or not parsable by libpq, min_size > max_size),
 *          CONNPOOL_ERR_INVALID_HANDLE (stale `options`), CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL (also when the pool's threads cannot be started). Never
 *          CONNPOOL_ERR_FORKED: this is how a child process gets a pool.
 * Blocks:  never: no network I/O, no name resolution. Starts max_concurrent_connects worker
 *          threads and one maintenance thread.
 * Threads: any; `options` must not be changed by another thread meanwhile.
 */
CONNPOOL_API connpool_status connpool_pool_create(connpool_pool **out, const char *conninfo,
                                                  const connpool_options *options,
                                                  connpool_error **err);

/**
 * Waits until the pool holds at least min_size open connections, for start-up code that wants
 * to know the database is reachable. `timeout_ms`: 0 checks without waiting, negative uses the
 * pool's acquire_timeout. It opens nothing itself and counts in no statistic. With min_size 0
 * it returns CONNPOOL_OK at once, whatever the server's state.
 *
 * Surprising: failed connects do not end the wait early. Even when every attempt fails at once
 * (wrong password, unknown database, circuit breaker open) it waits the whole timeout, then
 * returns CONNPOOL_ERR_CONNECT_FAILED; it never returns CONNPOOL_ERR_DATABASE_UNAVAILABLE.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_TIMEOUT, CONNPOOL_ERR_CONNECT_FAILED (instead of TIMEOUT
 *          when the latest connect attempt had failed; the message says why),
 *          CONNPOOL_ERR_POOL_CLOSED (closed before or during the wait),
 *          CONNPOOL_ERR_INVALID_ARGUMENT (NULL `pool`), CONNPOOL_ERR_INVALID_HANDLE,
 *          CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  up to timeout_ms; returns as soon as min_size connections are open or the pool is
 *          closed.
 * Threads: thread-safe; connpool_pool_close/_free from another thread end the wait.
 */
CONNPOOL_API connpool_status connpool_pool_wait_ready(connpool_pool *pool, int64_t timeout_ms,
                                                      connpool_error **err);

/**
 * Closes the pool: waiting and later acquires fail with CONNPOOL_ERR_POOL_CLOSED (pending
 * asynchronous acquires finish with it), connpool_pool_wait_ready returns it, idle connections
 * are closed and background threads are stopped. Leases still out stay usable until released;
 * their connections are then closed. The handle stays valid for stats until
 * connpool_pool_free(). Idempotent.
 *
 * Returns: CONNPOOL_OK (also when already closed); CONNPOOL_ERR_INVALID_ARGUMENT (NULL `pool`),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  until the background threads have stopped: a connect in progress is abandoned within
 *          about 50 ms, except that libpq resolves host names synchronously (a slow DNS lookup
 *          delays it); a rollback/reset_query in progress is waited for (at most
 *          health_check_timeout). Idle connections are closed by the calling thread (libpq
 *          sends its Terminate message without waiting for an answer).
 * Threads: thread-safe; concurrent calls all return once the threads have stopped.
 */
CONNPOOL_API connpool_status connpool_pool_close(connpool_pool *pool, connpool_error **err);

/**
 * Closes the pool (as connpool_pool_close) and invalidates the handle. Threads blocked in
 * connpool_pool_acquire() or connpool_pool_wait_ready() on it return CONNPOOL_ERR_POOL_CLOSED.
 * Leases and asynchronous acquires still out remain valid (and must still be released/freed);
 * the pool's memory is released with the last of them. In a child after fork() it only drops
 * the handle (see the general rules).
 *
 * Returns: CONNPOOL_OK (also for NULL, and in a child after fork()); CONNPOOL_ERR_INVALID_HANDLE
 *          (already freed, another kind of handle, made up), CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  as connpool_pool_close, then until every call still running on this pool handle in
 *          other threads has returned: waiting acquirers are woken at once, but a pre-ping in
 *          progress may take up to health_check_timeout.
 * Threads: thread-safe; of concurrent frees exactly one returns CONNPOOL_OK (in a forked child
 *          several may).
 */
CONNPOOL_API connpool_status connpool_pool_free(connpool_pool *pool);

/* ---------------------------------------------------------------------------------------------
 * Leases
 * ------------------------------------------------------------------------------------------- */

/** A connection borrowed from a pool. Return it with connpool_lease_release(). */
typedef struct connpool_lease connpool_lease;

/**
 * Borrows a connection; `*out` is the caller's lease until connpool_lease_release(). The calling
 * thread never opens connections itself: background workers do, as waiters need them.
 * `timeout_ms`: positive = wait at most that long, 0 = do not wait (CONNPOOL_ERR_TIMEOUT at once
 * if none can be taken, though the pool may start opening one), negative = the pool's
 * acquire_timeout option. Waiters are served first come, first served, except that for its
 * first overtake_window_us microseconds (default 200) a blocking waiter lets running threads
 * take connections released meanwhile (0 = strict FIFO).
 *
 * An idle connection is checked before it is handed out: without I/O (a non-blocking read of
 * its socket), then, if pre_ping is on and it has been idle for pre_ping_threshold, with a round
 * trip. One found dead (or past max_lifetime) is closed and another is tried, within the
 * timeout. Surprising: with timeout_ms 0, a dead idle connection ends the call with
 * CONNPOOL_ERR_TIMEOUT (or CONNECT_FAILED) even if other connections are idle. And the pre-ping
 * must end by the acquire's deadline too, so a positive timeout shorter than a network round
 * trip makes a healthy connection fail its pre-ping, and it is closed as broken.
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_TIMEOUT (the message gives the pool's
 *          state), CONNPOOL_ERR_CONNECT_FAILED (instead of TIMEOUT when the latest connect
 *          attempt had failed: server down, wrong password...; the message carries the reason),
 *          CONNPOOL_ERR_DATABASE_UNAVAILABLE (circuit breaker open and no connection open: at
 *          once, or as soon as the breaker opens during the wait),
 *          CONNPOOL_ERR_TOO_MANY_WAITERS (max_waiting reached; only when the timeout is
 *          positive), CONNPOOL_ERR_POOL_CLOSED (closed before or during the wait),
 *          CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or `pool`), CONNPOOL_ERR_INVALID_HANDLE,
 *          CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  timeout_ms > 0: at most timeout_ms in all, pre-pings and dead connections included.
 *          timeout_ms == 0: never waits for a connection, but the pre-ping of the one taken may
 *          take up to health_check_timeout.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_pool_acquire(connpool_lease **out, connpool_pool *pool,
                                                   int64_t timeout_ms, connpool_error **err);

/**
 * Takes an idle connection if one can be had without waiting, else returns
 * CONNPOOL_ERR_WOULD_BLOCK at once: for callers that wait their own way (an event loop, a
 * language runtime) and want the common case, a free connection, at the cost of one call. A
 * WOULD_BLOCK for lack of an idle connection has no side effects: it is not counted as a
 * timeout, it does not queue the caller and it does not start opening connections; wait with
 * connpool_pool_acquire_async() or connpool_pool_acquire() for that. Connections are not taken
 * past waiters that asked for a hand-off, so try-acquirers cannot starve waiting callers.
 *
 * A connection taken is checked as connpool_pool_acquire checks it. Surprising: only one is
 * tried. If it turns out dead it is closed (counted in closed_broken; a replacement is opened
 * only if min_size or waiters need one) and the call answers WOULD_BLOCK even if other
 * connections are idle.
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_WOULD_BLOCK (no error object: it is an
 *          expected answer), CONNPOOL_ERR_POOL_CLOSED, CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out`
 *          or `pool`), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL. Never TIMEOUT, CONNECT_FAILED, DATABASE_UNAVAILABLE or
 *          TOO_MANY_WAITERS.
 * Blocks:  never waits for a connection; a pre-ping of the connection taken may take up to
 *          health_check_timeout.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_pool_try_acquire(connpool_lease **out, connpool_pool *pool,
                                                       connpool_error **err);

/**
 * An acquire in progress, for event loops and cancellable waits (asyncio, Go contexts): it
 * never blocks the caller and parks no thread. Waiters are served first come, first served,
 * together with blocking acquirers (an asynchronous waiter has no overtaking window). Its
 * timeout is enforced by the pool's maintenance thread.
 */
typedef struct connpool_acquire connpool_acquire;

/**
 * Starts an acquire and returns at once. `timeout_ms` as for connpool_pool_acquire (0: the
 * request finishes at once, with a connection if one can be taken, else with
 * CONNPOOL_ERR_TIMEOUT or CONNECT_FAILED). Poll or wait on connpool_acquire_fd(), then collect
 * the outcome with connpool_acquire_result(); free the request with connpool_acquire_free().
 * Refusals (pool closed, breaker open, too many waiters) still return a request, finished with
 * that status, so that callers have one path for outcomes. A connection granted at once is
 * checked (pre-ping included) only when collected.
 *
 * Returns: CONNPOOL_OK with `*out` set to a new request, whatever its outcome will be;
 *          CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or `pool`), CONNPOOL_ERR_INVALID_HANDLE,
 *          CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe; the request may then be used from any thread.
 */
CONNPOOL_API connpool_status connpool_pool_acquire_async(connpool_acquire **out,
                                                         connpool_pool *pool, int64_t timeout_ms,
                                                         connpool_error **err);

/**
 * A file descriptor (a Linux eventfd, close-on-exec) that becomes readable when the acquire has
 * an outcome, and stays readable (level-triggered) except in one case: when
 * connpool_acquire_result finds the granted connection dead and the request goes back to
 * waiting, it becomes unreadable again until the next outcome. Owned by the request: do not
 * read, write or close it. Valid until connpool_acquire_free(). Created on the first call (every
 * call returns the same one), so a request whose outcome was collected at once never costs one.
 *
 * Returns: CONNPOOL_OK with `*out_fd` set (-1 on failure); CONNPOOL_ERR_INVALID_ARGUMENT (NULL
 *          `out_fd` or `acquire`), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED (in a child
 *          after fork()), CONNPOOL_ERR_NO_MEMORY (also
 *          when the eventfd cannot be created, e.g. the process is out of file descriptors),
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_acquire_fd(int32_t *out_fd, connpool_acquire *acquire,
                                                 connpool_error **err);

/**
 * Collects the outcome. On CONNPOOL_OK `*out` receives the lease, which then belongs to the
 * caller (collect it once). Another outcome is final: every later call returns it again, with
 * a new error object each time. A granted connection is checked here as connpool_pool_acquire
 * checks it: a dead one is closed and another idle one tried; if none is idle the request goes
 * back to waiting, in first place, and the answer turns to CONNPOOL_ERR_IN_PROGRESS again.
 *
 * Surprising: a pre-ping must end by the acquire's deadline. Collecting a granted connection
 * whose pre-ping is due (idle for pre_ping_threshold) after that deadline has passed makes the
 * pre-ping fail at once: the probably healthy connection is closed as broken and the outcome
 * becomes CONNPOOL_ERR_TIMEOUT (or CONNECT_FAILED). Collect promptly.
 *
 * Returns: CONNPOOL_ERR_IN_PROGRESS (no outcome yet, or another thread is checking the granted
 *          connection; `*out` NULL, no error object); CONNPOOL_OK with `*out` set; the final
 *          failures CONNPOOL_ERR_TIMEOUT, CONNPOOL_ERR_CONNECT_FAILED,
 *          CONNPOOL_ERR_DATABASE_UNAVAILABLE, CONNPOOL_ERR_TOO_MANY_WAITERS,
 *          CONNPOOL_ERR_POOL_CLOSED, CONNPOOL_ERR_CANCELED (as connpool_pool_acquire returns
 *          them); CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or `acquire`, or the lease was
 *          already collected: that one is counted by connpool_misuse_count only when `err` is
 *          not NULL), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never waits for a connection, but checking a granted one may run pre-pings: until
 *          the acquire's deadline at most (up to health_check_timeout if timeout_ms was 0).
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_acquire_result(connpool_lease **out,
                                                     connpool_acquire *acquire,
                                                     connpool_error **err);

/**
 * Waits until the acquire has an outcome (its fd is readable) or `timeout_ms` passes (0 =
 * check only, negative = no limit; this wait is separate from the acquire's own timeout, which
 * also ends it). For callers that want a blocking acquire they can cancel from another thread.
 * An outcome may be a grant that connpool_acquire_result then finds dead (it answers
 * CONNPOOL_ERR_IN_PROGRESS: wait again).
 *
 * Returns: CONNPOOL_OK (an outcome is ready, or was already collected: collect it with
 *          connpool_acquire_result); CONNPOOL_ERR_IN_PROGRESS (the wait timed out; no error
 *          object), CONNPOOL_ERR_INVALID_ARGUMENT (NULL `acquire`), CONNPOOL_ERR_INVALID_HANDLE,
 *          CONNPOOL_ERR_FORKED (in a child after fork()),
 *          CONNPOOL_ERR_NO_MEMORY (also when the eventfd cannot be created),
 *          CONNPOOL_ERR_INTERNAL (also when poll() fails).
 * Blocks:  up to timeout_ms; ends sooner with the outcome: a grant, the acquire's own timeout, a
 *          cancel or free from another thread, the pool closing.
 * Threads: thread-safe; several threads may wait on one request.
 */
CONNPOOL_API connpool_status connpool_acquire_wait(connpool_acquire *acquire, int64_t timeout_ms,
                                                   connpool_error **err);

/**
 * Abandons a pending acquire: it finishes at once with CONNPOOL_ERR_CANCELED (counted in the
 * `canceled` statistic) and its fd becomes readable. A connection granted but not yet collected
 * goes back to the pool, and the request finishes with CONNPOOL_ERR_CANCELED as well (not
 * counted). No effect once the request has finished otherwise or its lease was collected. While
 * another thread is inside connpool_acquire_result checking a granted connection, the cancel
 * takes effect only if that connection turns out dead; otherwise that collect succeeds.
 *
 * Returns: CONNPOOL_OK (also when there was nothing to cancel); CONNPOOL_ERR_INVALID_ARGUMENT
 *          (NULL `acquire`), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED,
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: any thread, at any time, any number of times.
 */
CONNPOOL_API connpool_status connpool_acquire_cancel(connpool_acquire *acquire);

/**
 * Frees the request (cancelling it if pending; returning an uncollected connection to the
 * pool) and closes its fd. A collected lease is not affected. In a child after fork() the
 * request is not freed (CONNPOOL_ERR_FORKED).
 *
 * Returns: CONNPOOL_OK (also for NULL); CONNPOOL_ERR_INVALID_HANDLE (already freed, another kind
 *          of handle, made up), CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  cancels first (which ends connpool_acquire_wait calls at once), then waits for calls
 *          still running on the request in other threads, e.g. a connpool_acquire_result
 *          checking a grant (bounded as there).
 * Threads: thread-safe; of concurrent frees exactly one returns CONNPOOL_OK.
 */
CONNPOOL_API connpool_status connpool_acquire_free(connpool_acquire *acquire);

/**
 * Returns a lease to its pool; the handle is dead afterwards. Never waits for the server. A
 * clean idle connection goes back to the pool (or straight to the oldest waiter). One left in a
 * transaction block (or a failed one), one owing a session reset (option `reset`), and every one
 * when reset_query is set, is first cleaned by a background worker: ROLLBACK if in a transaction
 * block, or the full session reset, then the reset_query (bounded by health_check_timeout;
 * closed if that fails). A connection is closed instead when it is
 * broken, busy (a result still pending, including an uncollected connpool_lease_send
 * statement, or left in pipeline mode), left unusable (COPY), told by the server that it is
 * being terminated, when its session user was changed (SET SESSION AUTHORIZATION) under
 * reset=rollback (otherwise the full reset undoes it), when it is
 * past max_lifetime, when it is an overflow connection nobody waits for, or when the pool is
 * closed.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `lease`),
 *          CONNPOOL_ERR_INVALID_HANDLE (already released, another kind of handle, made up),
 *          CONNPOOL_ERR_FORKED (in a child after fork(); the lease is left as it is),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  no server round trip. A connection being closed is closed by the calling thread
 *          (libpq sends its Terminate message without waiting for an answer). Waits for calls
 *          still running on the lease in other threads, i.e. a connpool_lease_cancel in progress
 *          (see there for how long that can take).
 * Threads: once per lease, from any thread; of concurrent releases exactly one succeeds.
 */
CONNPOOL_API connpool_status connpool_lease_release(connpool_lease *lease, connpool_error **err);

/**
 * Attaches a label (e.g. the code path that took the lease) shown when the lease is reported
 * as held longer than the leak_threshold option. Copied; at most 256 bytes. NULL or "" clears
 * it. A label lasts for this lease only.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `lease`, label longer than 256
 *          bytes), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: one thread at a time per lease.
 */
CONNPOOL_API connpool_status connpool_lease_set_label(connpool_lease *lease, const char *label,
                                                      connpool_error **err);

/**
 * The lease's libpq connection (`PGconn *`), for callers that use libpq themselves. It belongs
 * to the pool: do not PQfinish it and do not use it after release. Leave the connection idle
 * (no result pending, not in pipeline mode, same session user) before releasing; otherwise it
 * is closed rather than reused. Taking it makes the lease owe a full session reset at release
 * under reset=auto (the library cannot see what is sent), and makes the connection's
 * prepared-statement cache forget its entries before the next statement (the caller might have
 * deallocated them; the next statement sends DEALLOCATE for them, ignoring failures); prepared
 * statement names starting with "_connpool_" are reserved for that cache.
 *
 * Returns: CONNPOOL_OK with `*out_pgconn` set; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_pgconn`
 *          or `lease`), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED,
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: one thread at a time per lease, the PGconn included.
 */
CONNPOOL_API connpool_status connpool_lease_pgconn(void **out_pgconn, connpool_lease *lease,
                                                   connpool_error **err);

/* ---------------------------------------------------------------------------------------------
 * Queries on a lease
 * ------------------------------------------------------------------------------------------- */

/**
 * The outcome of one statement; free it with connpool_result_free(). Immutable: its accessors
 * may be called from several threads at once. It outlives its lease and its pool.
 */
typedef struct connpool_result connpool_result;

/**
 * Runs one SQL statement on the lease's connection, with `n_params` text parameters referenced
 * as $1..$n (`params[i]` NULL means SQL NULL; `params` may be NULL when `n_params` is 0). The
 * server infers parameter types. Results are in text format. `sql` must be a single statement
 * (the extended protocol is used: the server rejects "SELECT 1; SELECT 2" with
 * CONNPOOL_ERR_QUERY_FAILED).
 *
 * Statements go through the connection's prepared-statement cache (pool options
 * statement_cache_size and prepare_threshold), keyed by text and n_params: a statement executed
 * more than prepare_threshold times on a connection is prepared there (in the same round trip)
 * and then executed by name. A cached statement the server no longer knows (SQLSTATE 26000:
 * the cache then forgets all its entries) or whose result type changed (0A000) is dropped from
 * the cache and, outside a transaction block, run again unprepared within the same call; inside
 * one the error is returned.
 *
 * COPY is not supported: it returns CONNPOOL_ERR_QUERY_FAILED with a result that has no
 * SQLSTATE, and, unlike other failures, leaves the connection unusable (later statements give
 * CONNPOOL_ERR_CONNECTION_BROKEN; release closes it). Use connpool_lease_pgconn for COPY.
 *
 * Returns: CONNPOOL_OK with `*out` set;
 *          CONNPOOL_ERR_QUERY_FAILED: the server rejected the statement. `*out` is still set,
 *            to a result whose status is CONNPOOL_ERR_QUERY_FAILED and which carries the
 *            message and SQLSTATE (so does `err`). Free it as usual. The connection remains
 *            usable (except after COPY);
 *          CONNPOOL_ERR_CONNECTION_BROKEN: the connection died (the SQLSTATE is in `err` when
 *            the server said why), or an earlier call left it unusable; `*out` is NULL.
 *            Release the lease (the pool closes that connection and opens a replacement);
 *          CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out`, `lease` or `sql`; n_params outside
 *            0..65535; NULL `params` with n_params > 0; a connpool_lease_send statement still
 *            pending), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED,
 *            CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  until the server has answered the whole statement. There is no client-side
 *          timeout: it is bounded only by the server (e.g. statement_timeout), by
 *          connpool_lease_cancel from another thread, or by the connection failing (on TCP the
 *          keepalive defaults notice a silent peer in about a minute).
 * Threads: one thread at a time per lease; connpool_lease_cancel may be called meanwhile.
 */
CONNPOOL_API connpool_status connpool_lease_exec(connpool_result **out, connpool_lease *lease,
                                                 const char *sql, int32_t n_params,
                                                 const char *const *params, connpool_error **err);

/* Asynchronous statements: send, wait on the connection's socket, collect. One statement at a
 * time per lease; while one is pending, connpool_lease_exec and connpool_lease_send refuse with
 * CONNPOOL_ERR_INVALID_ARGUMENT and connpool_lease_transaction_status reports
 * CONNPOOL_TRANSACTION_ACTIVE. Releasing a lease with a statement pending closes its
 * connection (it is never handed to anyone else with a result in flight). Sending, polling
 * the socket and collecting never block. */

/** Bits of the `out_events` of connpool_lease_socket. */
#define CONNPOOL_WAIT_READ 1
#define CONNPOOL_WAIT_WRITE 2

/**
 * Sends one statement (same arguments, parameters, statement cache and COPY restriction as
 * connpool_lease_exec) without waiting for the server; `sql` and `params` may be freed when
 * this returns. Then wait for connpool_lease_socket's events and call connpool_lease_collect.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_CONNECTION_BROKEN (the connection is unusable or sending
 *          failed: release the lease), CONNPOOL_ERR_INVALID_ARGUMENT (NULL `lease` or `sql`;
 *          n_params outside 0..65535; NULL `params` with n_params > 0; a statement already
 *          pending), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never (libpq is in non-blocking mode; what the socket does not take at once is
 *          reported as CONNPOOL_WAIT_WRITE and sent by connpool_lease_collect).
 * Threads: one thread at a time per lease.
 */
CONNPOOL_API connpool_status connpool_lease_send(connpool_lease *lease, const char *sql,
                                                 int32_t n_params, const char *const *params,
                                                 connpool_error **err);

/**
 * The socket of the lease's connection (`*out_fd`; owned by the library: do not read, write or
 * close it, and do not keep it past release) and what the pending statement waits for:
 * `*out_events` is CONNPOOL_WAIT_READ, plus CONNPOOL_WAIT_WRITE while part of the statement is
 * still unsent, or 0 when no statement is pending. Wait until the socket is ready for any of
 * those events (level- or edge-triggered: connpool_lease_collect reads everything that arrived
 * before it returns CONNPOOL_ERR_IN_PROGRESS), then collect. The socket stays the same for the
 * whole lease, unless the connection breaks (libpq then closes it and `*out_fd` may be -1).
 *
 * Returns: CONNPOOL_OK with `*out_fd` and `*out_events` set (-1 and 0 on failure);
 *          CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_fd`, `out_events` or `lease`),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: one thread at a time per lease.
 */
CONNPOOL_API connpool_status connpool_lease_socket(int32_t *out_fd, int32_t *out_events,
                                                   connpool_lease *lease, connpool_error **err);

/**
 * A number identifying the lease's server connection: unique within the process and never
 * reused, the same for every lease that gets this connection. For callers that keep state per
 * connection (e.g. a poller registration for the socket of connpool_lease_socket).
 *
 * Returns: CONNPOOL_OK with `*out_id` set (0 on failure; never 0 on success);
 *          CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_id` or `lease`), CONNPOOL_ERR_INVALID_HANDLE,
 *          CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: one thread at a time per lease.
 */
CONNPOOL_API connpool_status connpool_lease_connection_id(uint64_t *out_id, connpool_lease *lease,
                                                          connpool_error **err);

/**
 * Advances the pending statement without blocking: sends what the socket takes, reads what has
 * arrived (all of it), and reports CONNPOOL_ERR_IN_PROGRESS while the outcome is not complete
 * (wait on connpool_lease_socket again), then exactly the outcomes of connpool_lease_exec, after
 * which the lease is free for the next statement. A re-run after SQLSTATE 26000/0A000 (see
 * connpool_lease_exec) is sent from here and can make the answer IN_PROGRESS again.
 *
 * Returns: CONNPOOL_ERR_IN_PROGRESS (`*out` NULL, no error object); CONNPOOL_OK or
 *          CONNPOOL_ERR_QUERY_FAILED with `*out` set, CONNPOOL_ERR_CONNECTION_BROKEN (`*out`
 *          NULL), as connpool_lease_exec; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or `lease`,
 *          no statement pending), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED,
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: one thread at a time per lease; connpool_lease_cancel may be called meanwhile.
 */
CONNPOOL_API connpool_status connpool_lease_collect(connpool_result **out, connpool_lease *lease,
                                                    connpool_error **err);

/**
 * Asks the server to cancel the statement running on the lease's connection (libpq's PQcancel:
 * an exchange on a separate connection). Unlike other lease calls it may be made from another
 * thread while one thread runs or collects a statement on the lease. The statement then
 * usually fails with SQLSTATE 57014 (query_canceled); if it had already finished, nothing
 * happens, unless the lease has meanwhile started its next statement, which the request may
 * then cancel (inherent to PostgreSQL's cancel protocol). CONNPOOL_OK means the request was
 * delivered, not that anything was cancelled.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_CONNECTION_BROKEN (the request could not be delivered; the
 *          message says why), CONNPOOL_ERR_INVALID_ARGUMENT (NULL `lease`),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  on the network, for one connect and exchange with the server, at most the
 *          cancel_timeout option (default 5 s; no thread is started for it). A server that
 *          does not take the request by then (silent, black-holed, overloaded) makes this call
 *          return CONNPOOL_ERR_TIMEOUT with a message naming cancel_timeout, and counts it in
 *          the `cancel_timeouts` statistic; the statement may still be running.
 *          connpool_lease_release waits for a cancel in progress on the same lease.
 * Threads: may overlap any other call on the same lease except connpool_lease_release (which
 *          waits for it).
 */
CONNPOOL_API connpool_status connpool_lease_cancel(connpool_lease *lease, connpool_error **err);

/** Values of connpool_lease_transaction_status (libpq's PQTRANS_* values). */
#define CONNPOOL_TRANSACTION_IDLE 0    /**< no transaction block open */
#define CONNPOOL_TRANSACTION_ACTIVE 1  /**< a statement is in progress */
#define CONNPOOL_TRANSACTION_INTRANS 2 /**< inside a transaction block */
#define CONNPOOL_TRANSACTION_INERROR 3 /**< inside a failed transaction block (only ROLLBACK) */
#define CONNPOOL_TRANSACTION_UNKNOWN 4 /**< the connection is broken */

/**
 * The transaction state of the lease's connection (one of CONNPOOL_TRANSACTION_*), as libpq
 * last saw it, read without I/O: CONNPOOL_TRANSACTION_ACTIVE while a statement is pending,
 * CONNPOOL_TRANSACTION_UNKNOWN once the connection is broken.
 *
 * Returns: CONNPOOL_OK with `*out_status` set (CONNPOOL_TRANSACTION_UNKNOWN on failure);
 *          CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_status` or `lease`),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: one thread at a time per lease.
 */
CONNPOOL_API connpool_status connpool_lease_transaction_status(int32_t *out_status,
                                                               connpool_lease *lease,
                                                               connpool_error **err);

/**
 * Makes the settings the lease's session has now the connection's own, for as long as it
 * lives: configuration parameters and the role changed in this session (with SET, set_config,
 * SET ROLE; not SET SESSION AUTHORIZATION) are restored by the session reset (option `reset`)
 * instead of going back to the server's defaults. For code that sets a connection up once
 * after it is opened (the bindings' configure / AfterConnect hooks); for every connection of a
 * pool, init_sql does the same without a call. Only settings are kept: temporary tables,
 * cursors, advisory locks and LISTEN still go at the next reset. One exchange with the server
 * (it reads pg_settings). The lease itself no longer counts as having changed its session.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_QUERY_FAILED (e.g. inside a failed transaction; the
 *          message says why); CONNPOOL_ERR_CONNECTION_BROKEN; CONNPOOL_ERR_INVALID_ARGUMENT
 *          (NULL `lease`, or a statement sent with connpool_lease_send still pending),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  on the network, for one exchange with the server.
 * Threads: one thread at a time per lease.
 */
CONNPOOL_API connpool_status connpool_lease_keep_session(connpool_lease *lease,
                                                         connpool_error **err);

/**
 * The statement's outcome.
 *
 * Returns: CONNPOOL_OK or CONNPOOL_ERR_QUERY_FAILED; CONNPOOL_ERR_INVALID_HANDLE for NULL or a
 *          stale handle (counted by connpool_misuse_count, as for every accessor below).
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API connpool_status connpool_result_status(const connpool_result *result);

/**
 * The server's error message for a failed statement (for a refused COPY, the library's).
 *
 * Returns: the message, valid until the result is freed; "" for a successful statement; NULL
 *          for a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API const char *connpool_result_error_message(const connpool_result *result);

/**
 * The SQLSTATE of a failed statement.
 *
 * Returns: five characters, valid until the result is freed; "" for a successful statement or
 *          a refused COPY; NULL for a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API const char *connpool_result_sqlstate(const connpool_result *result);

/**
 * Number of rows returned.
 *
 * Returns: the count (0 for a command without a row set, e.g. INSERT without RETURNING, and
 *          for a failure); -1 for a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API int64_t connpool_result_row_count(const connpool_result *result);

/**
 * Number of columns returned.
 *
 * Returns: the count (0 for a command without a row set, e.g. INSERT without RETURNING, and
 *          for a failure); -1 for a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API int32_t connpool_result_column_count(const connpool_result *result);

/**
 * Rows affected by INSERT/UPDATE/DELETE/MERGE/SELECT etc. as the server reported them (its
 * command tag).
 *
 * Returns: the count; -1 when the command reports none (e.g. CREATE INDEX, a failure), or
 *          for a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API int64_t connpool_result_affected_rows(const connpool_result *result);

/**
 * Name of column `column` (0-based).
 *
 * Returns: the name, valid until the result is freed; NULL if out of range (not counted as
 *          misuse) or for a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API const char *connpool_result_column_name(const connpool_result *result, int32_t column);

/**
 * Type OID of column `column` (0-based).
 *
 * Returns: the OID (e.g. 23 for int4, 25 for text); 0 if out of range or for a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API uint32_t connpool_result_column_type(const connpool_result *result, int32_t column);

/**
 * Whether the value at (row, column) (0-based) is SQL NULL.
 *
 * Returns: 1 if it is SQL NULL, 0 if not; -1 if out of range or for a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API int32_t connpool_result_is_null(const connpool_result *result, int64_t row,
                                             int32_t column);

/**
 * The value at (row, column) (0-based) as text (PostgreSQL's text output format).
 *
 * Returns: the value, NUL-terminated, valid until the result is freed; "" for SQL NULL (use
 *          connpool_result_is_null to tell it from an empty string); NULL if out of range or for
 *          a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API const char *connpool_result_value(const connpool_result *result, int64_t row,
                                               int32_t column);

/**
 * Length in bytes of the value at (row, column) (0-based), without the terminating NUL.
 *
 * Returns: the length (0 for SQL NULL); -1 if out of range or for a bad handle.
 * Blocks:  never.
 * Threads: any; several threads may read one result at once.
 */
CONNPOOL_API int64_t connpool_result_value_length(const connpool_result *result, int64_t row,
                                                  int32_t column);

/**
 * Frees a result; strings read from it become invalid. Results may outlive their lease and
 * their pool.
 *
 * Returns: CONNPOOL_OK (also for NULL); CONNPOOL_ERR_INVALID_HANDLE (freed before, another kind
 *          of handle, made up), CONNPOOL_ERR_INTERNAL (not expected).
 * Blocks:  only while another thread is inside an accessor of the same result.
 * Threads: once per result, when no other thread still uses strings read from it; of
 *          concurrent frees exactly one returns CONNPOOL_OK.
 */
CONNPOOL_API connpool_status connpool_result_free(connpool_result *result);

/* ---------------------------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------------------------- */

/**
 * A snapshot of a pool. Set `struct_size` to sizeof(connpool_stats) before the call: the
 * library fills only the fields that fit, so programs built against an older header keep
 * working when fields are appended (fields are only ever appended). The gauges are mutually
 * consistent: idle + in_use == total.
 */
typedef struct connpool_stats {
    uint32_t struct_size; /**< in: sizeof(connpool_stats) as the caller knows it */
    uint32_t reserved0;   /**< always 0 */
    /* gauges */
    int64_t total;        /**< open connections (idle + in use) */
    int64_t idle;         /**< open connections ready to be handed out */
    int64_t in_use;       /**< open connections leased, or being checked/reset by the pool */
    int64_t opening;      /**< connection attempts in progress */
    int64_t waiting;      /**< threads blocked in acquire + pending asynchronous acquires */
    int64_t max_size;     /**< the max_size option */
    int64_t min_size;     /**< the min_size option */
    int64_t max_overflow; /**< the max_overflow option */
    /* counters since create (acquire_wait_us_max is a maximum: described as a gauge). acquired
     * and reused count a connection when it is taken and step back by one if it then fails its
     * check (pre-ping): a snapshot taken in between can be one higher than the next. */
    int64_t created;               /**< connections opened successfully */
    int64_t closed;                /**< connections closed, for any reason */
    int64_t acquired;              /**< successful acquires (see the note above) */
    int64_t released;              /**< releases */
    int64_t reused;                /**< acquires served by a connection that had been used before */
    int64_t acquire_timeouts;      /**< acquires ended by their timeout (TIMEOUT, CONNECT_FAILED) */
    int64_t connect_errors;        /**< failed connection attempts */
    int64_t health_checks;         /**< liveness checks (pre-ping) run on idle connections */
    int64_t health_check_failures; /**< of those, how many found the connection dead */
    int64_t closed_lifetime;       /**< closed because they outlived max_lifetime */
    int64_t closed_idle;           /**< closed because they were idle longer than max_idle */
    int64_t closed_broken;         /**< closed because they were broken or in an unknown state */
    int64_t closed_overflow;       /**< overflow connections closed on release */
    int64_t resets;                /**< connections rolled back / reset after release */
    int64_t acquire_wait_us_total; /**< sum of time spent in successful acquires, microseconds
                                        (each measured in ns; added when the lease is released) */
    int64_t acquire_wait_us_max;   /**< longest successful acquire, microseconds */
    /* appended in 0.1.0 for the resilience features */
    int64_t breaker_state;    /**< circuit breaker: 0 closed, 1 open (failing fast), 2 half-open */
    int64_t breaker_opens;    /**< times the breaker opened */
    int64_t waiters_rejected; /**< acquires refused with CONNPOOL_ERR_TOO_MANY_WAITERS */
    int64_t unavailable;      /**< acquires refused with CONNPOOL_ERR_DATABASE_UNAVAILABLE */
    int64_t leaks_detected;   /**< leases held longer than leak_threshold (each reported once) */
    int64_t canceled;         /**< asynchronous acquires cancelled while pending */
    int64_t sweeps;           /**< idle sweeps after a dead connection was found */
    /* appended in 0.2.0 for health and metrics. Latency percentiles come from fixed-bucket
     * histograms (README "Health and metrics"): within 12.5 % of the true value, never above
     * the largest value recorded, 0 while nothing was recorded. Every successful acquire is
     * measured (in ns, also those that did not wait) and recorded when its lease is released. */
    int64_t requests_queued;      /**< acquires that had to wait for a connection (queued) */
    int64_t usage_ms;             /**< time connections spent leased, ms (psycopg_pool's) */
    int64_t acquire_wait_p50_ns;  /**< median acquire wait, nanoseconds */
    int64_t acquire_wait_p90_ns;  /**< 90th percentile of acquire waits, nanoseconds */
    int64_t acquire_wait_p99_ns;  /**< 99th percentile of acquire waits, nanoseconds */
    int64_t acquire_wait_p999_ns; /**< 99.9th percentile of acquire waits, nanoseconds */
    int64_t lease_hold_p50_ns;    /**< median time a lease was held, nanoseconds */
    int64_t lease_hold_p90_ns;    /**< 90th percentile of lease hold times, nanoseconds */
    int64_t lease_hold_p99_ns;    /**< 99th percentile of lease hold times, nanoseconds */
    int64_t lease_hold_p999_ns;   /**< 99.9th percentile of lease hold times, nanoseconds */
    int64_t utilisation_percent;  /**< in_use over max_size + max_overflow, percent, rounded down */
    int64_t health;               /**< the verdict: a CONNPOOL_HEALTH_* value */
    int64_t recent_errors; /**< failed connects, acquire timeouts and broken connections in the
                                last health_error_window */
    /* appended in 0.3.0 for run-time operations */
    int64_t paused;             /**< 1 while paused (connpool_pool_pause), else 0 */
    int64_t drains;             /**< connpool_pool_drain calls */
    int64_t closed_drained;     /**< connections closed because of a drain */
    int64_t keepalive_checks;   /**< idle connections checked by keepalive_interval or a check */
    int64_t keepalive_failures; /**< of those, how many were found dead and closed */
    int64_t resizes;            /**< connpool_pool_resize calls that changed a size */
    /* appended in 0.3.0 for safe defaults */
    int64_t reset_failures;  /**< returned connections closed because their session reset failed */
    int64_t dead_replaced;   /**< leases moved to another connection because theirs was found
                                  closed by the server before their first statement */
    int64_t alloc_failures;  /**< allocation failures in the pool's own threads (retried) */
    int64_t cancel_timeouts; /**< cancel requests given up at cancel_timeout */
} connpool_stats;

/**
 * Fills `out` (whose struct_size the caller set) with a consistent snapshot: the first
 * min(struct_size, sizeof(connpool_stats)) bytes are written, and struct_size is set to that
 * size. Works on a closed pool.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or `pool`, struct_size below
 *          8; `*out` unchanged), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED,
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_pool_stats(connpool_stats *out, connpool_pool *pool,
                                                 connpool_error **err);

/**
 * The same snapshot as a one-line JSON object: "name" (the pool's name), "closed_pool" (true
 * or false), then every field of connpool_stats in struct order, as integers. `*out_json` is a
 * new string: free it with connpool_string_free().
 *
 * Returns: CONNPOOL_OK with `*out_json` set; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_json` or
 *          `pool`), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_pool_stats_json(char **out_json, connpool_pool *pool,
                                                      connpool_error **err);

/** Values of connpool_stats_field.kind. */
#define CONNPOOL_STAT_GAUGE 1   /**< a value now; may go down */
#define CONNPOOL_STAT_COUNTER 2 /**< a total since the pool was created; only rises */

/**
 * The description of one field of connpool_stats. Set `struct_size` to
 * sizeof(connpool_stats_field) before calling connpool_stats_field_describe(). Strings have
 * static storage.
 */
typedef struct connpool_stats_field {
    uint32_t struct_size;    /**< in: sizeof(connpool_stats_field) as the caller knows it */
    uint32_t reserved0;      /**< always 0 */
    const char *name;        /**< the member name in connpool_stats and the JSON key */
    const char *description; /**< one line */
    int32_t kind;            /**< CONNPOOL_STAT_GAUGE or CONNPOOL_STAT_COUNTER */
    uint32_t offset;         /**< byte offset of the int64_t member in connpool_stats */
} connpool_stats_field;

/**
 * The number of int64_t fields of connpool_stats this version fills.
 *
 * Returns: the count (45 in this version).
 * Blocks:  never.
 * Threads: any.
 */
CONNPOOL_API int32_t connpool_stats_field_count(void);

/**
 * Describes field `index` (0 .. connpool_stats_field_count() - 1), in struct order: the first
 * min(struct_size, sizeof(connpool_stats_field)) bytes of `*out` are written, and struct_size is
 * set to that size.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out`, struct_size below 8, index out
 *          of range; `*out` unchanged). Allocates nothing: no other status.
 * Blocks:  never.
 * Threads: any.
 */
CONNPOOL_API connpool_status connpool_stats_field_describe(connpool_stats_field *out, int32_t index,
                                                           connpool_error **err);

/**
 * Frees a string the library allocated for the caller (connpool_pool_stats_json).
 *
 * Returns: nothing. NULL is allowed and ignored. A string is not a handle: freeing it twice, or
 *          passing any other pointer, is undefined behaviour.
 * Blocks:  never.
 * Threads: once per string.
 */
CONNPOOL_API void connpool_string_free(char *string);

/**
 * Calls refused with CONNPOOL_ERR_INVALID_ARGUMENT or CONNPOOL_ERR_INVALID_HANDLE since the
 * library was loaded (NULLs, bad option values, double releases, stale or made-up handles,
 * bad handles given to the connpool_result_* accessors...), process-wide: a handle that is not
 * valid cannot be attributed to a pool. For monitoring misuse; never reset. Not counted:
 * CONNPOOL_ERR_UNKNOWN_OPTION, connpool_error_status(NULL), and connpool_acquire_result's
 * "already collected" when its `err` is NULL.
 *
 * Returns: the count.
 * Blocks:  never.
 * Threads: any (a relaxed atomic counter).
 */
CONNPOOL_API int64_t connpool_misuse_count(void);

/* ---------------------------------------------------------------------------------------------
 * Pools of a process: the registry of named pools
 *
 * One registry per process, shared by everything loaded into it: a pool registered from C can
 * be looked up by name from Python (ctypes) or Go (cgo) in the same process, and every handle
 * reaches the same pool with one set of counters. Pools made with connpool_pool_create() are
 * not registered and work as before.
 *
 * Names: 1 to 63 characters from [A-Za-z0-9_.-] (safe in URLs, metric labels and log lines).
 * A registered pool's `name` option is its registry name.
 *
 * Handles: every connpool_registry_get_or_create() and connpool_registry_lookup() returns a new
 * connpool_pool handle. connpool_pool_free() on a handle of a registered pool frees only that
 * handle; the pool stays registered and open. The pool closes (for every handle) on
 * connpool_registry_close(), connpool_registry_close_all(), or connpool_pool_close() on any of
 * its handles; it is unregistered then, and handles still held answer CONNPOOL_ERR_POOL_CLOSED
 * until freed. Registered pools are not closed at process exit: call
 * connpool_registry_close_all() before exiting to end their sessions politely.
 * ------------------------------------------------------------------------------------------- */

/**
 * Returns a handle to the registered pool called `name`, creating and registering it if there
 * is none. An existing pool is returned only when `conninfo` and `options` equal those it was
 * created with (conninfo compared key by key after parsing, options value by value);
 * otherwise CONNPOOL_ERR_CONFLICT names the first difference (the key or option, never a
 * password). `options` may be NULL (defaults).
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_CONFLICT; CONNPOOL_ERR_INVALID_ARGUMENT
 *          (NULL `out`, `name` or `conninfo`, a name that breaks the rule above, unparsable
 *          conninfo, invalid options), CONNPOOL_ERR_INVALID_HANDLE (stale `options`),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never waits for the server (as connpool_pool_create).
 * Threads: thread-safe; of concurrent calls with one name exactly one creates the pool, the
 *          others get handles to it (or CONFLICT).
 */
CONNPOOL_API connpool_status connpool_registry_get_or_create(connpool_pool **out, const char *name,
                                                             const char *conninfo,
                                                             const connpool_options *options,
                                                             connpool_error **err);

/**
 * Returns a new handle to the registered pool called `name`.
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_NOT_FOUND (not counted by
 *          connpool_misuse_count); CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or `name`),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_registry_lookup(connpool_pool **out, const char *name,
                                                      connpool_error **err);

/**
 * The names of the registered pools, sorted, one per line ("\n" after each; "" when there are
 * none). Free `*out_names` with connpool_string_free().
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_names`),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe (a snapshot).
 */
CONNPOOL_API connpool_status connpool_registry_names(char **out_names, connpool_error **err);

/**
 * Statistics of every registered pool and their aggregate, as one JSON object:
 * {"pools": {"<name>": <as connpool_pool_stats_json>, ...}, "aggregate": {"pools": N,
 * <each connpool_stats field summed over the pools; for maxima, percentiles, breaker_state and
 * health the worst pool's value>, "utilisation_percent": <in use over the
 * sum of max_size + max_overflow>, "reuse_ratio": <reused / created, 0 when none created>}}.
 * Free `*out_json` with connpool_string_free().
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_json`), CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_registry_stats_json(char **out_json, connpool_error **err);

/**
 * Closes the registered pool called `name` (as connpool_pool_close) and unregisters it; the
 * name is free for a new pool at once.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_NOT_FOUND; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `name`),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  as connpool_pool_close.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_registry_close(const char *name, connpool_error **err);

/**
 * Closes and unregisters every registered pool.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  as connpool_pool_close, once per pool.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_registry_close_all(connpool_error **err);

/**
 * Sets the process-wide connection budget: the open connections (including those being
 * opened) of all registered pools together never exceed `max_connections`; 0 turns the budget
 * off (the default). A pool that needs a connection while the budget is spent closes an idle
 * connection of another registered pool if there is one, else waits for one within its
 * acquire timeout. Lowering the budget below what is open closes nothing at once: connections
 * are not opened again until the total is below it.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (negative), CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_registry_set_connection_budget(int32_t max_connections,
                                                                     connpool_error **err);

/* ---------------------------------------------------------------------------------------------
 * Health
 *
 * A verdict per pool from its utilisation (in use / (max_size + max_overflow)), the errors in a
 * recent window (failed connects, acquire timeouts, connections found broken) and the circuit
 * breaker. With the default options (health_* in the options table): healthy below 80 %
 * utilisation with no error in the window; degraded at 80-95 % or with some errors; unhealthy
 * above 95 %, with more than 10 errors in the window, or with the breaker open.
 * ------------------------------------------------------------------------------------------- */

#define CONNPOOL_HEALTH_HEALTHY 0
#define CONNPOOL_HEALTH_DEGRADED 1
#define CONNPOOL_HEALTH_UNHEALTHY 2

/**
 * The pool's verdict now: CONNPOOL_HEALTH_HEALTHY, _DEGRADED or _UNHEALTHY. A closed pool is
 * unhealthy.
 *
 * Returns: CONNPOOL_OK with `*out_verdict` set; CONNPOOL_ERR_INVALID_ARGUMENT (NULL
 *          `out_verdict` or `pool`), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED,
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_pool_health(int32_t *out_verdict, connpool_pool *pool,
                                                  connpool_error **err);

/**
 * The pool's verdict with its reasons as JSON: {"name": ..., "status": "healthy" | "degraded" |
 * "unhealthy", "utilisation_percent": <number>, "recent_errors": <integer>, "breaker_state":
 * <integer>, "reasons": [<one sentence each>]}. Free with connpool_string_free().
 *
 * Returns: as connpool_pool_health.
 */
CONNPOOL_API connpool_status connpool_pool_health_json(char **out_json, connpool_pool *pool,
                                                       connpool_error **err);

/**
 * The registry-wide verdict: unhealthy if any registered pool is, else degraded if any is, else
 * healthy (healthy also when no pool is registered). `*out_verdict` may be NULL. JSON:
 * {"status": ..., "pools": {"<name>": <as connpool_pool_health_json>, ...}, "healthy_pools": N,
 * "total_pools": N, "warnings": ["<name>: <reason>", ...]}. Free with connpool_string_free().
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_json`),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_registry_health_json(char **out_json, int32_t *out_verdict,
                                                           connpool_error **err);

/* ---------------------------------------------------------------------------------------------
 * Metrics
 *
 * Text exposition for Prometheus, names following OpenTelemetry's database client connection
 * metrics (db.client.connection.*) mapped to Prometheus naming (seconds, _total counters, a
 * pool_name label), plus the library's own series under connpool_ (README: "Health and
 * metrics" has the table).
 * ------------------------------------------------------------------------------------------- */

#define CONNPOOL_METRICS_PROMETHEUS 0  /**< text/plain; version=0.0.4 */
#define CONNPOOL_METRICS_OPENMETRICS 1 /**< application/openmetrics-text; version=1.0.0 */

/**
 * The pool's metrics in `format`. Free `*out_text` with connpool_string_free().
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_text` or `pool`, unknown
 *          format), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_pool_metrics(char **out_text, connpool_pool *pool,
                                                   int32_t format, connpool_error **err);

/**
 * The metrics of every registered pool in one exposition (each family once, one series per
 * pool). Free `*out_text` with connpool_string_free().
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_text`, unknown format),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_registry_metrics(char **out_text, int32_t format,
                                                       connpool_error **err);

/* ---------------------------------------------------------------------------------------------
 * Monitoring endpoints
 *
 * One router, used by the embedded exporter below, the Python WSGI/ASGI apps and the Go
 * http.Handler, so every language answers the same routes the same way:
 *   GET  /pools                 statistics of all registered pools + aggregate (JSON)
 *   GET  /pools/{name}          one pool's statistics and health (JSON: {"name": ..., "stats":
 *                               <as connpool_pool_stats_json>, "health": <as
 *                               connpool_pool_health_json>}; 404 if unknown)
 *   GET  /health                registry verdict (JSON): 200 healthy or degraded, 503 unhealthy
 *   GET  /metrics               Prometheus text, or OpenMetrics when `accept` asks for it
 *   POST /pools/{name}/close    close one pool   } only with an admin token configured, and
 *   POST /pools/close-all       close every pool } "Authorization: Bearer <token>"
 * Other paths: 404; other methods on a known path: 405 (methods are case-sensitive); mutating
 * routes without a configured token: 403; with a token but a missing or wrong Authorization:
 * 401 (compared in constant time). A target that is not a path or has a bad percent escape,
 * or a {name} (percent-decoded) that breaks the registry's name rule: 400; a target longer
 * than 2048 bytes: 414. A library failure behind a route: 500. Errors have a JSON body
 * {"error": "..."}. A query string is ignored. HEAD on a GET route answers as GET with an
 * empty body.
 * ------------------------------------------------------------------------------------------- */

/**
 * Answers one HTTP request. `method` and `target` (the request target, e.g. "/pools/main") are
 * required; `authorization` and `accept` are the request's header values or NULL;
 * `admin_token` NULL or "" leaves the mutating routes off. On CONNPOOL_OK the three outputs are
 * set: the HTTP status code and two new strings, the Content-Type and the body, each freed with
 * connpool_string_free(). An unroutable request is not a failure (it gets its 4xx reply).
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (a NULL output, `method` or `target`),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never holds a pool lock while rendering; a close route blocks as
 *          connpool_registry_close.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_monitor_handle(int32_t *out_http_status,
                                                     char **out_content_type, char **out_body,
                                                     const char *method, const char *target,
                                                     const char *authorization, const char *accept,
                                                     const char *admin_token, connpool_error **err);

/** An embedded HTTP exporter serving connpool_monitor_handle's routes. */
typedef struct connpool_exporter connpool_exporter;

/**
 * Starts an HTTP server on `address` ("HOST:PORT"; NULL means "127.0.0.1:0", port 0 picks a
 * free port) with a small fixed number of threads and bounded request size, answering the
 * monitoring routes with `admin_token` (NULL or "": mutating routes off). Opt-in: nothing
 * listens unless this is called. HOST is an IPv4 literal, a bracketed IPv6 literal or
 * "localhost" (no name lookup). Bounds: 2 threads, 64 open connections (more are closed at
 * once), request line and headers 8 KiB (431), body 4 KiB (413), 5 s to send a request and
 * 5 s to take a reply (else the connection is dropped); a malformed request gets 400.
 * In a child process after fork() the parent's exporters do not serve; stopping one there
 * only forgets its handle.
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out`, malformed
 *          address, or the address cannot be bound: the message says why),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  until the server listens (bounded).
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_exporter_start(connpool_exporter **out, const char *address,
                                                     const char *admin_token, connpool_error **err);

/**
 * The TCP port the exporter listens on.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_port` or `exporter`),
 *          CONNPOOL_ERR_INVALID_HANDLE (stopped or made up).
 */
CONNPOOL_API connpool_status connpool_exporter_port(int32_t *out_port, connpool_exporter *exporter,
                                                    connpool_error **err);

/**
 * Stops the exporter (finishing requests in progress, bounded) and frees it. Exporters still
 * running at process exit are stopped then.
 *
 * Returns: CONNPOOL_OK (also for NULL); CONNPOOL_ERR_INVALID_HANDLE (stopped before, made up),
 *          CONNPOOL_ERR_INTERNAL.
 * Threads: once per exporter.
 */
CONNPOOL_API connpool_status connpool_exporter_stop(connpool_exporter *exporter);

/* ---------------------------------------------------------------------------------------------
 * Logging into the host's logging
 * ------------------------------------------------------------------------------------------- */

#define CONNPOOL_LOG_TRACE 0
#define CONNPOOL_LOG_DEBUG 1
#define CONNPOOL_LOG_INFO 2
#define CONNPOOL_LOG_WARN 3
#define CONNPOOL_LOG_ERROR 4
#define CONNPOOL_LOG_CRITICAL 5
#define CONNPOOL_LOG_OFF 6

/**
 * Receives the library's log messages: `level` (CONNPOOL_LOG_*), the pool's name, and the
 * message (passwords already removed). Strings are valid during the call only. Called from one
 * library thread, never with a pool lock held and never from a caller's thread.
 */
typedef void (*connpool_log_callback)(void *user_data, int32_t level, const char *pool_name,
                                      const char *message);

/**
 * Routes the log messages of every pool (except pools given their own callback) to `callback`,
 * at `min_level` and above; a pool whose log_level option is set keeps that level. NULL
 * `callback` restores the default (stderr, with the level from log_level or
 * CONNPOOL_LOG_LEVEL). Messages below the level are not even formatted. Messages wait in a
 * bounded queue (1024 messages, shared by all callbacks) for the one delivery thread: when the
 * host is slow and the queue is full, new messages are dropped and counted
 * (connpool_log_dropped_count), so a pool thread never waits for the host. Setting the same
 * callback again is a flush. In a child after fork() the callback stays set and the child gets
 * its own delivery thread; messages the parent had queued are the parent's to deliver.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (level out of range),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  until the messages already queued for the previous callback are delivered (at most
 *          500 ms; the rest are then dropped and counted) and its call in progress has
 *          returned: afterwards the previous callback is never called again, and its user_data
 *          may be freed. Called from a callback, it does not wait (it cannot wait for itself).
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_log_set_callback(connpool_log_callback callback,
                                                       void *user_data, int32_t min_level,
                                                       connpool_error **err);

/**
 * As connpool_log_set_callback, for one pool (all its handles). NULL `callback` returns the
 * pool to the process-wide routing. When the pool goes away (its last handle freed, its last
 * lease released), that call waits for the pool's callback as clearing it does. The pool's
 * first message ("pool created for ...") is logged by
 * connpool_pool_create, before a pool callback can be set: it goes the process-wide way.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `pool`, level out of range),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 */
CONNPOOL_API connpool_status connpool_pool_set_log_callback(connpool_pool *pool,
                                                            connpool_log_callback callback,
                                                            void *user_data, int32_t min_level,
                                                            connpool_error **err);

/**
 * Log messages dropped because the delivery queue was full, process-wide, since load.
 */
CONNPOOL_API int64_t connpool_log_dropped_count(void);

/* ---- Run-time operations ---------------------------------------------------------------------
 * A running pool can be resized, paused, drained and checked, given a new conninfo, and asked
 * what its connections are doing. Each call below works on any handle of the pool (registry
 * handles included) and is thread-safe. Every one of them returns CONNPOOL_ERR_POOL_CLOSED on a
 * closed pool, and CONNPOOL_ERR_INVALID_ARGUMENT / CONNPOOL_ERR_INVALID_HANDLE /
 * CONNPOOL_ERR_FORKED / CONNPOOL_ERR_NO_MEMORY / CONNPOOL_ERR_INTERNAL as the other calls do.
 */

/**
 * Changes min_size and max_size of a running pool (the stats' min_size and max_size show the
 * values in force). Growing min_size opens the missing connections in the background (see
 * connpool_pool_wait_ready); growing max_size lets waiting callers have new connections at once.
 * Shrinking max_size closes idle connections above the new max now and retires leased ones above
 * it when they are released (their leases are not affected). max_overflow is kept.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (min_size < 0, max_size < 1,
 *          min_size > max_size, either above 10000: the message names the value to fix),
 *          CONNPOOL_ERR_POOL_CLOSED.
 * Blocks:  never (connections are opened by the pool's threads; idle ones above the new max
 *          are closed by the caller without waiting for the server).
 */
CONNPOOL_API connpool_status connpool_pool_resize(connpool_pool *pool, int32_t min_size,
                                                  int32_t max_size, connpool_error **err);

/**
 * Pauses the pool: from now on no connection is handed out (idle or new); acquires wait, bounded
 * by their timeout as usual (they end with CONNPOOL_ERR_TIMEOUT, whose message says the pool is
 * paused), and try-acquires return CONNPOOL_ERR_WOULD_BLOCK. Leases already out are unaffected
 * and may be released; background maintenance goes on. Idempotent. The stats' `paused` is 1.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_POOL_CLOSED.
 * Blocks:  never.
 */
CONNPOOL_API connpool_status connpool_pool_pause(connpool_pool *pool, connpool_error **err);

/**
 * Ends a pause: waiting callers are served in their order. Idempotent (OK when not paused).
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_POOL_CLOSED.
 * Blocks:  never.
 */
CONNPOOL_API connpool_status connpool_pool_resume(connpool_pool *pool, connpool_error **err);

/**
 * Replaces every connection: idle connections are closed now, each leased connection is closed
 * when it is released (its lease goes on unaffected until then), and the pool refills to
 * min_size with new connections (pgx's Reset, HikariCP's softEvictConnections). Connections
 * being opened when drain is called are also retired after their first use. Counted in the
 * stats' drains and closed_drained.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_POOL_CLOSED.
 * Blocks:  never (idle connections are closed by the caller without waiting for the server;
 *          new ones are opened by the pool's threads).
 */
CONNPOOL_API connpool_status connpool_pool_drain(connpool_pool *pool, connpool_error **err);

/**
 * Validates every idle connection now: the cheap local check, then a round trip bounded by the
 * health_check_timeout option, one connection at a time, each taken out of the idle set while it
 * is checked (acquirers meanwhile get other connections or new ones). Dead connections are
 * closed and replaced up to min_size. Leased connections are not checked.
 *
 * Returns: CONNPOOL_OK with `*out_closed` (may be NULL) set to the number of connections found
 *          dead and closed; CONNPOOL_ERR_POOL_CLOSED.
 * Blocks:  up to one health_check_timeout per idle connection (in practice one round trip each).
 */
CONNPOOL_API connpool_status connpool_pool_check(int32_t *out_closed, connpool_pool *pool,
                                                 connpool_error **err);

/**
 * Gives a running pool a new conninfo (credential rotation, a moved server): connections opened
 * from now on use it; open connections stay until they retire by max_lifetime, or at once with
 * connpool_pool_drain. The conninfo is checked as connpool_pool_create checks it, and the pool's
 * name, options and statistics are kept. The password never appears in logs or errors.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL, too long or not parsable
 *          by libpq: the message says what to fix; the old conninfo stays in force),
 *          CONNPOOL_ERR_POOL_CLOSED.
 * Blocks:  never.
 */
CONNPOOL_API connpool_status connpool_pool_set_conninfo(connpool_pool *pool, const char *conninfo,
                                                        connpool_error **err);

/**
 * What one leased connection is. Set struct_size to sizeof(connpool_lease_info) before calling
 * connpool_lease_get_info(); fields appended later are not written for callers built against an
 * older header. Times are microseconds since the Unix epoch (CLOCK_REALTIME, converted from the
 * pool's monotonic clock when the call is made).
 */
typedef struct connpool_lease_info {
    uint32_t struct_size;    /**< in: sizeof(connpool_lease_info) as the caller knows it */
    int32_t backend_pid;     /**< the server process serving the connection */
    uint64_t connection_id;  /**< as connpool_lease_connection_id */
    int64_t created_at_us;   /**< when the connection was opened */
    int64_t last_used_at_us; /**< when its previous lease ended (created_at_us if is_new) */
    int64_t use_count;       /**< leases of this connection so far, this one included */
    int32_t is_new;          /**< 1 on the first lease of the connection, else 0 */
    int32_t reserved0;       /**< always 0 */
} connpool_lease_info;

/**
 * Fills `out` (struct_size set by the caller) for the lease's connection; a direct connection
 * (connpool_connect) reports use_count 1 and is_new 1.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL, struct_size smaller than the
 *          fields up to use_count), CONNPOOL_ERR_INVALID_HANDLE.
 * Blocks:  never.
 * Threads: one thread at a time per lease.
 */
CONNPOOL_API connpool_status connpool_lease_get_info(connpool_lease_info *out,
                                                     connpool_lease *lease, connpool_error **err);

/**
 * The pool's connections as a JSON document, allocated (free with connpool_string_free):
 *   {"pool": name, "paused": bool, "min_size": n, "max_size": n, "connections": [
 *     {"id": n, "state": "idle"|"in_use"|"checking", "backend_pid": n, "age_ms": n,
 *      "idle_ms": n (idle only, else 0), "uses": n, "label": string|null (in use only),
 *      "held_ms": n (in use only, else 0)}, ...],
 *    "opening": n}
 * Connection attempts in progress have no entry of their own: "opening" counts them. Labels are
 * the callers' own text (connpool_lease_set_label); no conninfo or password appears.
 *
 * Returns: CONNPOOL_OK; the errors of the section. Works on a closed pool (no connections).
 * Blocks:  never (a snapshot under the pool's lock, rendered outside it).
 */
CONNPOOL_API connpool_status connpool_pool_connections_json(char **out_json, connpool_pool *pool,
                                                            connpool_error **err);

/**
 * Opens one connection outside any pool, for a caller that needs one for a single job: it is a
 * lease like any other (statements, results, cancel, pgconn, info), is never shared, and is
 * closed by connpool_lease_release. `options` may be NULL; connect_timeout, init_sql, log_level,
 * name and the statement cache options apply, the sizing options do not. The conninfo gets the
 * pool's keepalive defaults and is redacted in messages as connpool_pool_create does.
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or conninfo,
 *          conninfo not parsable), CONNPOOL_ERR_CONNECT_FAILED (with the server's
 *          SQLSTATE when it sent one, e.g. 28P01 for a wrong password, or the init_sql's),
 *          CONNPOOL_ERR_TIMEOUT (connect_timeout passed), CONNPOOL_ERR_FORKED,
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  up to the connect_timeout option (default 10 s).
 */
CONNPOOL_API connpool_status connpool_connect(connpool_lease **out, const char *conninfo,
                                              const connpool_options *options,
                                              connpool_error **err);

/* ---- Pool groups: read-only routing over a primary and its standbys -------------------------- */

/**
 * A pool group: one logical pool over a primary and its streaming-replication standbys, made
 * from a multi-host conninfo (`host=a,b,c port=5432,5433,5434`, or the URI form). It keeps one
 * ordinary pool per host (each with that host's conninfo and the group's options; node pools
 * are named "<name>@host:port"; target_session_attrs is dropped, the group routes by role
 * itself). Read-write leases always go to the primary; read-only leases go round robin to the
 * healthy standbys whose replica lag is within the replica_max_lag option, and to the primary
 * when no standby qualifies. libpq 15 has no load_balance_hosts: the group does the spreading.
 *
 * Each node is checked every replica_check_interval (default 1 s) through one of its own pooled
 * connections: `pg_is_in_recovery()` gives its role (a promotion is seen at the next check),
 * the age of `pg_last_xact_replay_timestamp()` its lag (0 when it has replayed all it
 * received), and a failed check (no connection within max(interval, 1 s), connection lost)
 * takes it out of rotation until a check succeeds again. An acquire that fails to connect to a
 * node also takes it out at once. Leases are ordinary connpool_lease handles: exec, release
 * and the other lease functions work unchanged; a lease goes back to its node's pool.
 */
typedef struct connpool_group connpool_group;

/** Routing modes of connpool_group_acquire. */
#define CONNPOOL_ROUTE_READ_WRITE 0 /**< the primary */
#define CONNPOOL_ROUTE_READ_ONLY 1  /**< a healthy standby, else the primary */

/**
 * Creates a pool group over every host of `conninfo`. `options` may be NULL (defaults); they
 * apply to each node pool, plus the group options replica_max_lag and replica_check_interval.
 * No connection is opened here: each node's first check starts in the background at once.
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or conninfo,
 *          conninfo not parsable, host/hostaddr/port lists of different lengths, more than 32
 *          hosts, invalid options), CONNPOOL_ERR_INVALID_HANDLE (stale `options`),
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL. Messages never quote the password.
 * Blocks:  never: no network I/O. Starts each node pool's threads and one checker per node.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_group_create(connpool_group **out, const char *conninfo,
                                                   const connpool_options *options,
                                                   connpool_error **err);

/**
 * Waits until every node has been checked once (its role is known, or it was found down).
 * Optional: connpool_group_acquire waits for a suitable node by itself.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_TIMEOUT (the message lists each node's state),
 *          CONNPOOL_ERR_POOL_CLOSED, CONNPOOL_ERR_INVALID_ARGUMENT (NULL `group`),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED.
 * Blocks:  up to timeout_ms (< 0: the acquire_timeout option).
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_group_wait_ready(connpool_group *group, int64_t timeout_ms,
                                                       connpool_error **err);

/**
 * Borrows a connection for `mode` (CONNPOOL_ROUTE_READ_WRITE or CONNPOOL_ROUTE_READ_ONLY),
 * see connpool_group. Waits up to timeout_ms (< 0: the acquire_timeout option; 0: no wait)
 * for a node that can serve the mode to be known (first checks, a failover) and for one of
 * its pool's connections. With several standbys, the wait on one standby's pool lasts one
 * replica_check_interval at most before the others are looked at again.
 *
 * Returns: CONNPOOL_OK with `*out` set to a lease; CONNPOOL_ERR_DATABASE_UNAVAILABLE (no node
 *          can serve the mode: no primary for read-write, no node at all for read-only; the
 *          message lists each node as host:port and its state), CONNPOOL_ERR_TIMEOUT (nodes
 *          could serve but no connection was free in time), CONNPOOL_ERR_CONNECT_FAILED,
 *          CONNPOOL_ERR_POOL_CLOSED, CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or `group`,
 *          unknown `mode`), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED,
 *          CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  up to timeout_ms.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_group_acquire(connpool_lease **out, connpool_group *group,
                                                    int32_t mode, int64_t timeout_ms,
                                                    connpool_error **err);

/**
 * The group's state as a one-line JSON object: "name", "closed_group", the counters
 * "read_write_acquires", "read_only_acquires" and "read_only_on_primary" (read-only leases
 * served by the primary for want of a standby), and "nodes": one object per host in conninfo
 * order with "host", "port", "role" ("primary", "standby" or "unknown" before the first
 * successful check), "healthy" (the last check or acquire succeeded), "lag_ms" (a standby's
 * replay lag as of its last check; null for a primary), "checks", "last_error" (of the last
 * failed check or connect; "" if none) and "stats" (that node pool's connpool_pool_stats_json
 * object). Free `*out_json` with connpool_string_free().
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out_json` or `group`),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL. Works on a closed group.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_group_stats_json(char **out_json, connpool_group *group,
                                                       connpool_error **err);

/**
 * Closes the group: stops the checkers and closes every node pool (threads blocked in
 * connpool_group_acquire get CONNPOOL_ERR_POOL_CLOSED; leases still out are closed when
 * released). Idempotent.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `group`),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED.
 * Blocks:  until the checkers and the node pools' threads have stopped (as connpool_pool_close).
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_group_close(connpool_group *group, connpool_error **err);

/**
 * Closes the group (as connpool_group_close) and frees its handle. NULL is allowed.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_HANDLE (stale handle, e.g. freed twice).
 * Blocks:  as connpool_group_close.
 * Threads: once per handle; no other call on the handle may start after it.
 */
CONNPOOL_API connpool_status connpool_group_free(connpool_group *group);

/* ---------------------------------------------------------------------------------------------
 * Multiplexed statements
 *
 * With the pool option multiplexing_connections > 0, statements can run on the pool without a
 * lease: many callers' statements are written into that many shared connections in libpq
 * pipeline mode, each with its own sync point (one caller's error never affects another's), and
 * each result is routed back to its caller. The shared connections are taken from max_size when
 * the first multiplexed statement runs and kept until the pool closes (one that breaks is
 * closed and replaced). Repeated statement texts are prepared on each shared connection.
 *
 * Statements run in autocommit, each on whichever shared connection is free: nothing of a
 * session carries from one to the next. Statements that open a transaction or change the
 * session are refused by their first keyword (ABORT, BEGIN, CLOSE, COMMIT, COPY, DEALLOCATE,
 * DECLARE, DISCARD, END, FETCH, LISTEN, LOAD, LOCK, MOVE, PREPARE, RELEASE, RESET, ROLLBACK,
 * SAVEPOINT, SET, START, UNLISTEN); use a lease for them. Functions with session effects
 * (set_config, pg_advisory_lock...) are not detected: do not run them multiplexed.
 * ------------------------------------------------------------------------------------------- */

/**
 * Runs one statement on the pool's shared connections and waits for its result: `sql`,
 * `n_params` and `params` as for connpool_lease_exec (text parameters, text results, a single
 * statement). `timeout_ms` bounds the whole statement, from the call to its result: positive =
 * at most that long, negative = the pool's acquire_timeout option (0 is refused). A statement
 * not yet written when its time is up is dropped (never run); one already written is answered
 * with CONNPOOL_ERR_TIMEOUT and its result discarded when it arrives (it may have run): the
 * shared connection's other statements are never cancelled. When the queue of statements
 * waiting to be written is full (1024 per shared connection) the call waits for room within
 * the timeout.
 *
 * Returns: CONNPOOL_OK with `*out` set (free it with connpool_result_free; every result
 *            accessor works on it);
 *          CONNPOOL_ERR_QUERY_FAILED: the server rejected the statement; `*out` is still set,
 *            to a result carrying the message and SQLSTATE (so does `err`);
 *          CONNPOOL_ERR_TIMEOUT (see above), CONNPOOL_ERR_CONNECTION_BROKEN (the shared
 *            connection was lost with the statement written: it may or may not have run; only
 *            that connection's written statements fail), CONNPOOL_ERR_POOL_CLOSED;
 *          CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out`, `pool` or `sql`; n_params outside
 *            0..65535; NULL `params` with n_params > 0; timeout_ms 0; multiplexing off: the
 *            message names the option multiplexing_connections; a transaction or session
 *            statement: the message names its keyword), CONNPOOL_ERR_INVALID_HANDLE,
 *            CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  up to timeout_ms.
 * Threads: thread-safe: that is its purpose.
 */
CONNPOOL_API connpool_status connpool_pool_exec(connpool_result **out, connpool_pool *pool,
                                                const char *sql, int32_t n_params,
                                                const char *const *params, int64_t timeout_ms,
                                                connpool_error **err);

/**
 * A multiplexed statement in progress, for event loops: submit, wait on its fd, collect; free
 * it with connpool_statement_free(). It parks no thread.
 */
typedef struct connpool_statement connpool_statement;

/**
 * Submits a statement as connpool_pool_exec does and returns at once. `sql` and `params` may
 * be freed when this returns. The statement's timeout is enforced by the multiplexer (its fd
 * becomes readable with CONNPOOL_ERR_TIMEOUT). A full queue is not waited on: the call fails
 * with CONNPOOL_ERR_TOO_MANY_WAITERS.
 *
 * Returns: CONNPOOL_OK with `*out` set; CONNPOOL_ERR_TOO_MANY_WAITERS (queue full),
 *          CONNPOOL_ERR_POOL_CLOSED, CONNPOOL_ERR_INVALID_ARGUMENT (as connpool_pool_exec),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_FORKED, CONNPOOL_ERR_NO_MEMORY,
 *          CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe; the statement may then be used from any thread.
 */
CONNPOOL_API connpool_status connpool_pool_exec_async(connpool_statement **out, connpool_pool *pool,
                                                      const char *sql, int32_t n_params,
                                                      const char *const *params, int64_t timeout_ms,
                                                      connpool_error **err);

/**
 * A file descriptor (a Linux eventfd, close-on-exec) that becomes readable, and stays readable,
 * once the statement has an outcome. Owned by the statement: do not read, write or close it.
 * Created on the first call (every call returns the same one).
 *
 * Returns: CONNPOOL_OK with `*out_fd` set (-1 on failure); CONNPOOL_ERR_INVALID_ARGUMENT (NULL
 *          `out_fd` or `statement`), CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_NO_MEMORY (also
 *          when the eventfd cannot be created), CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_statement_fd(int32_t *out_fd, connpool_statement *statement,
                                                   connpool_error **err);

/**
 * Collects the outcome: CONNPOOL_ERR_IN_PROGRESS until there is one, then the status
 * connpool_pool_exec would have returned, with `*out` set on the first collect of CONNPOOL_OK or
 * CONNPOOL_ERR_QUERY_FAILED (the result then belongs to the caller). Later calls return the
 * same status with `*out` NULL (CONNPOOL_OK then becomes CONNPOOL_ERR_INVALID_ARGUMENT: already
 * collected).
 *
 * Returns: CONNPOOL_ERR_IN_PROGRESS (no error object), the outcome as above,
 *          CONNPOOL_ERR_INVALID_ARGUMENT (NULL `out` or `statement`, already collected),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_NO_MEMORY, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: thread-safe.
 */
CONNPOOL_API connpool_status connpool_statement_result(connpool_result **out,
                                                       connpool_statement *statement,
                                                       connpool_error **err);

/**
 * Waits until the statement has an outcome or `timeout_ms` passes (0 = check only, negative =
 * until the outcome, which the statement's own timeout bounds).
 *
 * Returns: CONNPOOL_OK (an outcome is ready: collect it), CONNPOOL_ERR_IN_PROGRESS (the wait
 *          timed out; no error object), CONNPOOL_ERR_INVALID_ARGUMENT (NULL `statement`),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_INTERNAL.
 * Blocks:  up to timeout_ms, or the statement's own timeout.
 * Threads: thread-safe; several threads may wait on one statement.
 */
CONNPOOL_API connpool_status connpool_statement_wait(connpool_statement *statement,
                                                     int64_t timeout_ms, connpool_error **err);

/**
 * Abandons the statement: it finishes at once with CONNPOOL_ERR_CANCELED. Not yet written, it
 * is dropped (never run); already written, its result is discarded when it arrives (the server
 * is not asked to cancel it: that would hit the shared connection's other statements). No
 * effect once it has an outcome.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_ARGUMENT (NULL `statement`),
 *          CONNPOOL_ERR_INVALID_HANDLE, CONNPOOL_ERR_INTERNAL.
 * Blocks:  never.
 * Threads: any thread, at any time.
 */
CONNPOOL_API connpool_status connpool_statement_cancel(connpool_statement *statement);

/**
 * Frees the statement (cancelling it if it has no outcome yet) and closes its fd. A collected
 * result is not affected. NULL is allowed.
 *
 * Returns: CONNPOOL_OK; CONNPOOL_ERR_INVALID_HANDLE (already freed, another kind of handle).
 * Blocks:  waits for calls still running on the statement in other threads (bounded: none
 *          of them waits longer than its own timeout).
 * Threads: once per statement.
 */
CONNPOOL_API connpool_status connpool_statement_free(connpool_statement *statement);

#ifdef __cplusplus
}
#endif

#endif /* CONNPOOL_CONNPOOL_H */
