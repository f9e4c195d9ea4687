/* See pg_cancel_layout.h. This is C, not C++: PostgreSQL's internal headers (c.h, port.h) are
 * written for C. Debian ships libpq-int.h but not two headers it includes; libpq_int_shim/
 * stands in for them (see there). ENABLE_GSS is dropped so that <gssapi.h> is not needed: it
 * only adds members to PGconn, none to struct pg_cancel. */
#include "pg/pg_cancel_layout.h"

#define PGCANCEL_LAYOUT_API __attribute__((visibility("hidden")))

#ifdef CONNPOOL_HAVE_LIBPQ_INT

#include <postgres_fe.h>
#undef ENABLE_GSS
#include <libpq-int.h>

PGCANCEL_LAYOUT_API int pgcancel_layout_major(void) {
    return PG_MAJORVERSION_NUM;
}

PGCANCEL_LAYOUT_API int pgcancel_layout_read(const struct pg_cancel *cancel, void *address,
                                             size_t address_capacity, size_t *address_length,
                                             int *backend_pid, int *secret_key) {
    if (cancel == NULL || cancel->raddr.salen == 0 ||
        (size_t)cancel->raddr.salen > address_capacity ||
        (size_t)cancel->raddr.salen > sizeof cancel->raddr.addr) {
        return 0;
    }
    memcpy(address, &cancel->raddr.addr, (size_t)cancel->raddr.salen);
    *address_length = (size_t)cancel->raddr.salen;
    *backend_pid = cancel->be_pid;
    *secret_key = cancel->be_key;
    return 1;
}

#else

PGCANCEL_LAYOUT_API int pgcancel_layout_major(void) {
    return 0;
}

PGCANCEL_LAYOUT_API int pgcancel_layout_read(const struct pg_cancel *cancel, void *address,
                                             size_t address_capacity, size_t *address_length,
                                             int *backend_pid, int *secret_key) {
    (void)cancel, (void)address, (void)address_capacity, (void)address_length;
    (void)backend_pid, (void)secret_key;
    return 0;
}

#endif
