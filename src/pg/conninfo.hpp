// Checking a libpq connection string and keeping its password out of every message.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace connpool {

struct ParsedConninfo {
    std::string password;  // "" if none: used only to scrub messages
    std::string redacted;  // the conninfo as key=value pairs, password shown as ********
};

// Parses `conninfo` (key=value or URI) with libpq. On failure returns an error whose message
// never quotes the input: libpq's own parse errors can echo a password verbatim.
Error parse_conninfo(const char *conninfo, ParsedConninfo &out);

// Replaces every occurrence of `secret` in `text` with ********.
std::string redact(std::string text, std::string_view secret);

}  // namespace connpool
