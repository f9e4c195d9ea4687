// The public header must compile as C++ too, with the same declarations.
#include <connpool/connpool.h>

#include <type_traits>

static_assert(std::is_same_v<connpool_status, int32_t>);
static_assert(std::is_standard_layout_v<connpool_stats>);
static_assert(offsetof(connpool_stats, total) == 8, "stats layout is part of the ABI");

int connpool_header_cxx_check() {
    return CONNPOOL_OK;
}
