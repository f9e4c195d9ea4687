/* Reads the server address and backend key out of libpq's PGcancel, whose layout libpq 15 does
 * not publish (no API gives the secret key). Compiled as C against Debian's
 * postgresql/internal/libpq-int.h, the only header that defines struct pg_cancel; the C++ side
 * uses it only when the running libpq has the same major version as that header. */
#ifndef CONNPOOL_PG_CANCEL_LAYOUT_H
#define CONNPOOL_PG_CANCEL_LAYOUT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pg_cancel;

/* The PostgreSQL major version of the libpq-int.h this was compiled against; 0 when the build
 * had no such header (then pgcancel_layout_read always fails). */
int pgcancel_layout_major(void);

/* Copies the server address (at most address_capacity bytes), its length, the backend's PID and
 * secret key out of `cancel`. Returns 1, or 0 when unavailable. Valid only if the running libpq
 * is of major version pgcancel_layout_major(). */
int pgcancel_layout_read(const struct pg_cancel *cancel, void *address, size_t address_capacity,
                         size_t *address_length, int *backend_pid, int *secret_key);

#ifdef __cplusplus
}
#endif

#endif
