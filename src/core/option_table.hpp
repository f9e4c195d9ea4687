// How options are described and set by key: one OptionField per option binds its description
// (key, kind, range, one-line doc) to a member of a plain options struct. Each layer lists its
// own options (core/options.cpp, pg/options.cpp); the C API's introspection, the bindings and
// the README table all read those lists.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace connpool {

// Values are pinned: the C API reports them as CONNPOOL_OPTION_*.
enum class OptionKind : int32_t {
    integer = 1,
    duration_ms = 2,
    boolean = 3,
    string = 4,
    choice = 5
};

struct OptionSpec {
    const char *key;
    OptionKind kind;
    int64_t min;  // integer, duration_ms: accepted range; string: max is the length limit
    int64_t max;
    const char *doc;
    const char *choices = "";  // choice: the accepted words, comma-separated
};

// A value parsed according to its OptionSpec.
struct OptionValue {
    int64_t integer = 0;
    bool boolean = false;
    std::string text;
};

// Parses `value` for `spec`; on failure the error names the key and the accepted values.
Error parse_option(const OptionSpec &spec, std::string_view value, OptionValue &out);

// Quotes user input in a message, truncated so that a huge value cannot flood a log.
std::string quoted_input(std::string_view text);

template <class Options>
struct OptionField {
    OptionSpec spec;
    int64_t Options::*integer = nullptr;
    bool Options::*boolean = nullptr;
    std::string Options::*text = nullptr;

    Error assign(Options &options, std::string_view value) const {
        OptionValue parsed;
        Error error = parse_option(spec, value, parsed);
        if (!error.ok()) return error;
        if (integer != nullptr) options.*integer = parsed.integer;
        if (boolean != nullptr) options.*boolean = parsed.boolean;
        if (text != nullptr) options.*text = std::move(parsed.text);
        return {};
    }
    // The value in `options` in the form parse_option accepts.
    std::string format(const Options &options) const {
        if (integer != nullptr) return std::to_string(options.*integer);
        if (boolean != nullptr) return options.*boolean ? "on" : "off";
        return options.*text;
    }
};

}  // namespace connpool
