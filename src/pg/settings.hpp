// Everything a pool is created with: the generic pool's options and the PostgreSQL side's, set
// by key through one catalog (what connpool_options_set accepts and connpool_option_describe
// reports).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "pg/options.hpp"

namespace connpool {

struct PoolSettings {
    PoolOptions pool;
    PgOptions pg;

    // Sets one option from its string form; on failure leaves the settings unchanged and
    // returns an error naming the key and the accepted values (UNKNOWN_OPTION for a key that
    // does not exist, listing the known ones).
    Error set(std::string_view key, std::string_view value);
    // Checks rules that involve several options.
    Error validate() const;
    // The value of option `key` in the form set() accepts; "" for an unknown key.
    std::string get(std::string_view key) const;
};

// One option as the C API describes it.
struct OptionEntry {
    OptionSpec spec;
    std::string default_value;  // in the form PoolSettings::set accepts
};

// Every option, the pool's first, then the PostgreSQL side's; built once, never changes.
const std::vector<OptionEntry> &option_catalog();

}  // namespace connpool
