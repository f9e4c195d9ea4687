// The statistics as C sees them: connpool_stats mirrors core/stats.hpp's list field for field,
// and connpool_stats_field_* describe that list to the bindings.
#include <array>
#include <cstring>

#include "handles.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

// connpool_stats is struct_size, reserved0, then one int64_t per kStatFields entry, in order.
constexpr std::array<size_t, kStatFieldCount> kCOffsets = {
#define CONNPOOL_STAT_OFFSET(name, kind, doc) offsetof(connpool_stats, name),
    CONNPOOL_STAT_FIELDS(CONNPOOL_STAT_OFFSET)
#undef CONNPOOL_STAT_OFFSET
};

constexpr bool mirrors_stat_list() {
    for (size_t i = 0; i < kCOffsets.size(); ++i) {
        if (kCOffsets[i] != offsetof(connpool_stats, total) + i * sizeof(int64_t)) return false;
    }
    return sizeof(connpool_stats) ==
           offsetof(connpool_stats, total) + kCOffsets.size() * sizeof(int64_t);
}
static_assert(mirrors_stat_list(),
              "connpool_stats must list exactly the fields of CONNPOOL_STAT_FIELDS, in order");
static_assert(static_cast<int32_t>(StatKind::gauge) == CONNPOOL_STAT_GAUGE &&
              static_cast<int32_t>(StatKind::counter) == CONNPOOL_STAT_COUNTER);

}  // namespace

namespace connpool::capi {

connpool_stats to_c_stats(const PoolStats &stats) {
    connpool_stats c{};
#define CONNPOOL_STAT_COPY(name, kind, doc) c.name = stats.name;
    CONNPOOL_STAT_FIELDS(CONNPOOL_STAT_COPY)
#undef CONNPOOL_STAT_COPY
    return c;
}

}  // namespace connpool::capi

extern "C" {

CONNPOOL_API int32_t connpool_stats_field_count(void) {
    return kStatFieldCount;
}

CONNPOOL_API connpool_status connpool_stats_field_describe(connpool_stats_field *out, int32_t index,
                                                           connpool_error **err) {
    static const char *const kFunction = "connpool_stats_field_describe";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    const uint32_t size = out->struct_size;
    if (size < offsetof(connpool_stats_field, name)) {
        return struct_too_small(err, kFunction, "connpool_stats_field");
    }
    if (index < 0 || index >= kStatFieldCount) {
        return index_out_of_range(err, kFunction, "connpool_stats_field_count");
    }
    const StatField &field = kStatFields[index];
    connpool_stats_field info{};
    info.name = field.name;
    info.description = field.doc;
    info.kind = static_cast<int32_t>(field.kind);
    info.offset = static_cast<uint32_t>(kCOffsets[static_cast<size_t>(index)]);
    copy_sized(out, info, size);
    return CONNPOOL_OK;
}

}  // extern "C"
