#include "pg/settings.hpp"

#include <fmt/format.h>

namespace connpool {
namespace {

template <class Options>
const OptionField<Options> *find_field(std::span<const OptionField<Options>> fields,
                                       std::string_view key) {
    for (const OptionField<Options> &field : fields) {
        if (key == field.spec.key) return &field;
    }
    return nullptr;
}

std::string known_keys() {
    std::string keys;
    for (const OptionEntry &entry : option_catalog()) {
        if (!keys.empty()) keys += ", ";
        keys += entry.spec.key;
    }
    return keys;
}

template <class Options>
void add_entries(std::vector<OptionEntry> &catalog, std::span<const OptionField<Options>> fields) {
    const Options defaults{};
    for (const OptionField<Options> &field : fields) {
        catalog.push_back({field.spec, field.format(defaults)});
    }
}

}  // namespace

Error PoolSettings::set(std::string_view key, std::string_view value) {
    if (const auto *field = find_field(pool_option_fields(), key))
        return field->assign(pool, value);
    if (const auto *field = find_field(pg_option_fields(), key)) return field->assign(pg, value);
    return {CONNPOOL_ERR_UNKNOWN_OPTION, fmt::format("unknown option {}; known options are: {}",
                                                     quoted_input(key), known_keys())};
}

std::string PoolSettings::get(std::string_view key) const {
    if (const auto *field = find_field(pool_option_fields(), key)) return field->format(pool);
    if (const auto *field = find_field(pg_option_fields(), key)) return field->format(pg);
    return {};
}

Error PoolSettings::validate() const {
    return pool.validate();
}

const std::vector<OptionEntry> &option_catalog() {
    static const std::vector<OptionEntry> catalog = [] {
        std::vector<OptionEntry> entries;
        add_entries(entries, pool_option_fields());
        add_entries(entries, pg_option_fields());
        return entries;
    }();
    return catalog;
}

}  // namespace connpool
