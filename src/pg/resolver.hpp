// Host-name resolution bounded by connect_timeout. libpq resolves `host` with a blocking
// getaddrinfo that its connect_timeout does not cover (a DNS server that never answers holds
// the connect for the resolver's own timeouts, 10 s and more). Here each name is looked up on
// a small, fixed set of resolver threads while the connect waits at most until its deadline;
// libpq then gets the addresses as `hostaddr`, with `host` kept for TLS verification and
// .pgpass. A lookup abandoned at its deadline finishes on its thread unobserved (within the
// resolver's own timeout, resolv.conf's timeout x attempts): at most kResolverThreads lookups
// hang at once, and while that many hang, later lookups queue and may time out with their
// connects even for names that would resolve at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

#include "core/clock.hpp"

namespace connpool {

constexpr size_t kResolverThreads = 8;

// What replaces the conninfo's host, hostaddr and port lists: one entry per address, the name
// repeated for each of its addresses.
struct HostOverrides {
    std::string host;
    std::string hostaddr;
    std::string port;
};

enum class ResolveOutcome : uint8_t {
    untouched,  // nothing to resolve (Unix sockets, numeric hosts, a hostaddr given, no host):
                // libpq goes by the conninfo as it is
    resolved,   // `overrides` filled
    timed_out,  // the deadline passed (or `abandon` was set) first; `message` says which name
    failed,     // no name could be resolved; `message` says why
};

// Resolves the host names of `conninfo` (and of PGHOST/PGPORT when it names none).
ResolveOutcome resolve_host_names(const std::string &conninfo, TimePoint deadline,
                                  const std::atomic<bool> &abandon, HostOverrides &overrides,
                                  std::string &message);

}  // namespace connpool
