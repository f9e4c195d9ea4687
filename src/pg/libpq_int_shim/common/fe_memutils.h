/* Stand-in for PostgreSQL's common/fe_memutils.h (included by postgres_fe.h, not shipped by
 * Debian's libpq-dev). pg_cancel_layout.c allocates nothing, so it needs none of it. */
