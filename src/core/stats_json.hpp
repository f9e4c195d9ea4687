#pragma once

#include <string>
#include <string_view>

#include "connpool/connpool.h"

namespace connpool {

// Renders a stats snapshot as one JSON object (keys = connpool_stats field names).
std::string stats_to_json(const connpool_stats &stats, std::string_view pool_name,
                          bool pool_closed);

// Escapes a string for inclusion in JSON (without the surrounding quotes).
std::string json_escape(std::string_view text);

}  // namespace connpool
