#include "monitor_request.hpp"

#include <cstdint>

namespace connpool::capi {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.push_back(text[i]);
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;
        const int high = hex_value(text[i + 1]);
        const int low = hex_value(text[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
    }
    return out;
}

bool ascii_iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) {
            return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
        };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

}  // namespace

std::optional<std::vector<std::string>> target_segments(std::string_view target) {
    const size_t end = target.find_first_of("?#");
    const std::string_view path = target.substr(0, end);
    if (path.empty() || path.front() != '/') return std::nullopt;
    std::vector<std::string> segments;
    size_t start = 1;
    while (true) {
        const size_t slash = path.find('/', start);
        std::optional<std::string> segment = percent_decode(
            path.substr(start, slash == std::string_view::npos ? path.npos : slash - start));
        if (!segment) return std::nullopt;
        segments.push_back(std::move(*segment));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return segments;
}

bool valid_pool_name(std::string_view name) {
    if (name.empty() || name.size() > 63) return false;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
    const size_t space = authorization.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    if (!ascii_iequal(authorization.substr(0, space), "Bearer")) return std::nullopt;
    std::string_view credentials = authorization.substr(space);
    while (!credentials.empty() && (credentials.front() == ' ' || credentials.front() == '\t')) {
        credentials.remove_prefix(1);
    }
    while (!credentials.empty() && (credentials.back() == ' ' || credentials.back() == '\t')) {
        credentials.remove_suffix(1);
    }
    if (credentials.empty()) return std::nullopt;
    return credentials;
}

bool tokens_match(std::string_view presented, std::string_view expected) {
    // Every byte of the expected token is compared whatever the presented one holds; only the
    // lengths (which say nothing about the content) decide the loop bounds.
    uint32_t difference = presented.size() == expected.size() ? 0u : 1u;
    for (size_t i = 0; i < expected.size(); ++i) {
        const unsigned char given =
            i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
        difference |= static_cast<uint32_t>(given ^ static_cast<unsigned char>(expected[i]));
    }
    return difference == 0 && !expected.empty();
}

}  // namespace connpool::capi
