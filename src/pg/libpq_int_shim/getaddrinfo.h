/* Stand-in for PostgreSQL's src/include/getaddrinfo.h, which libpq-int.h includes but Debian's
 * libpq-dev does not ship. On glibc that header only includes these two. */
#include <netdb.h>
#include <sys/socket.h>
