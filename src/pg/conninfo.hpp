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

// Where two connection strings differ, compared key by key after libpq parsed them (so a URI
// and the equivalent key=value string are equal; libpq's defaults are not filled in: a key set
// in one string only is a difference). Never carries a value.
struct ConninfoDifference {
    std::string key;      // the first differing keyword, in libpq's keyword order; "" if none
    bool secret = false;  // a secret option (password, sslpassword...)
};

// Fills `out` with the first difference between `a` and `b`; an error if either cannot be
// parsed (its message never quotes the input).
Error first_conninfo_difference(const char *a, const char *b, ConninfoDifference &out);

// Replaces every occurrence of `secret` in `text` with ********.
std::string redact(std::string text, std::string_view secret);

}  // namespace connpool
