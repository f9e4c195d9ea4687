/* The public header must compile as strict C99 (-std=c99 -pedantic -Werror) and be usable. */
#include <connpool/connpool.h>

int connpool_header_c99_check(void);

int connpool_header_c99_check(void) {
    connpool_stats stats;
    connpool_pool *pool = NULL;
    connpool_error *err = NULL;
    stats.struct_size = (uint32_t)sizeof stats;
    (void)pool;
    (void)err;
    return CONNPOOL_VERSION_NUMBER + CONNPOOL_ERR_INTERNAL + (int)stats.struct_size;
}
