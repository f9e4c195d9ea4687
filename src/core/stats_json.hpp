#pragma once

#include <string>
#include <string_view>

#include "core/stats.hpp"

namespace connpool {

// Renders a stats snapshot as one JSON object: "name", "closed_pool", then every field of
// kStatFields in order.
std::string stats_to_json(const PoolStats &stats, std::string_view pool_name, bool pool_closed);

// Escapes a string for inclusion in JSON (without the surrounding quotes).
std::string json_escape(std::string_view text);

}  // namespace connpool
