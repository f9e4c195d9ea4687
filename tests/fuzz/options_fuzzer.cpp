// Fuzzes the text the library accepts from callers: option keys/values, conninfo strings, and
// libpq connect errors. Invariants: no crash, no hang, and a planted password never appears in
// any message or redacted form.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "connpool/connpool.h"
#include "core/connector.hpp"
#include "core/options.hpp"
#include "pg/connector.hpp"
#include "pg/conninfo.hpp"

namespace {

constexpr std::string_view kSecret = "Pl4nted-S3cret-q7";

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool contains_secret(std::string_view text) {
    return text.find(kSecret) != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string input(reinterpret_cast<const char *>(data), size);
    if (contains_secret(input)) return 0;  // the input itself would "leak" it

    // 1. Options: the input is "key\0value" (or all key).
    {
        const size_t split = input.find('\0');
        const std::string key = input.substr(0, split);
        const std::string value = split == std::string::npos ? "" : input.substr(split + 1);
        connpool_options *opts = nullptr;
        check(connpool_options_new(&opts, nullptr) == CONNPOOL_OK);
        connpool_error *err = nullptr;
        const connpool_status s = connpool_options_set(opts, key.c_str(), value.c_str(), &err);
        check(s == CONNPOOL_OK || s == CONNPOOL_ERR_INVALID_ARGUMENT ||
              s == CONNPOOL_ERR_UNKNOWN_OPTION);
        check((s == CONNPOOL_OK) == (err == nullptr));
        if (err != nullptr) check(std::string_view(connpool_error_message(err)).size() < 2048);
        connpool_error_free(err);
        check(connpool_options_free(opts) == CONNPOOL_OK);
        check(connpool_options_free(opts) == CONNPOOL_ERR_INVALID_HANDLE);
    }

    // 2. Conninfo with a planted password, in the middle of arbitrary text and as a URI.
    const std::string half_a = input.substr(0, size / 2), half_b = input.substr(size / 2);
    for (const std::string &conninfo : {half_a + " password=" + std::string(kSecret) + " " + half_b,
                                        "postgresql://u:" + std::string(kSecret) + "@" + input,
                                        half_a + " password='" + std::string(kSecret) + half_b}) {
        if (conninfo.find('\0') != std::string::npos) continue;
        connpool::ParsedConninfo parsed;
        const connpool::Error e = connpool::parse_conninfo(conninfo.c_str(), parsed);
        check(!contains_secret(e.message));  // parse errors never quote the input
        // Where libpq took the planted value as the password (in a URI, "password=..." after
        // the path is part of the database name, not a password), it must not show.
        if (parsed.password == kSecret) check(!contains_secret(parsed.redacted));
        // Whatever libpq later says about this server, the message is scrubbed.
        connpool::ConnectFailure failure;
        connpool::describe_connect_failure((input + std::string(kSecret) + half_b).c_str(),
                                           failure);
        check(!contains_secret(connpool::redact(failure.message, kSecret)));
        check(failure.sqlstate.empty() || failure.sqlstate.size() == 5);
    }
    return 0;
}
