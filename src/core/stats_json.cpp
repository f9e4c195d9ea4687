#include "core/stats_json.hpp"

#include <fmt/format.h>

namespace connpool {

std::string json_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                } else {
                    out += c;
                }
        }
    }
    return out;
}

std::string stats_to_json(const PoolStats &stats, std::string_view pool_name, bool pool_closed) {
    std::string out = fmt::format("{{\"name\": \"{}\", \"closed_pool\": {}", json_escape(pool_name),
                                  pool_closed ? "true" : "false");
    for (const StatField &field : kStatFields) {
        out += fmt::format(", \"{}\": {}", field.name, stats.*field.member);
    }
    out += "}";
    return out;
}

}  // namespace connpool
