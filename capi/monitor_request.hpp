// Reading an HTTP request for the monitoring router: the request target split into decoded
// path segments, and the bearer token of an Authorization header. Pure functions, no I/O, so
// the router's refusals can be tested (and fuzzed) without a socket.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace connpool::capi {

// The longest request target the router reads; longer ones are refused with 414.
inline constexpr size_t kMaxMonitorTarget = 2048;

// The path of an origin-form target ("/a/b%2Dc?x=1" -> {"a", "b-c"}): the query string is
// dropped, each segment percent-decoded after splitting (so "%2F" stays inside its segment).
// Empty optional for a target that is not origin-form or has a malformed percent escape.
std::optional<std::vector<std::string>> target_segments(std::string_view target);

// The registry's name rule: 1 to 63 characters from [A-Za-z0-9_.-].
bool valid_pool_name(std::string_view name);

// The credentials of "Bearer <token>" (scheme case-insensitive, as RFC 7235 says), or an empty
// optional for any other header value.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// Compares a presented token with the configured one in time that does not depend on where
// they first differ, so the token cannot be guessed byte by byte from response times.
bool tokens_match(std::string_view presented, std::string_view expected);

}  // namespace connpool::capi
