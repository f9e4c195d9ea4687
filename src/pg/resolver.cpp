#include "pg/resolver.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "pg/bounded_workers.hpp"

namespace connpool {
namespace {

// Lookups that may wait for a resolver thread; more fail at once (as timed out).
constexpr size_t kResolverQueue = 256;

BoundedWorkers &resolver_threads() {
    static BoundedWorkers &workers = *new BoundedWorkers(kResolverThreads, kResolverQueue);
    return workers;
}

std::vector<std::string> split_list(std::string_view value) {
    std::vector<std::string> items;
    if (value.empty()) return items;
    for (;;) {
        const size_t comma = value.find(',');
        items.emplace_back(value.substr(0, comma));
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return items;
}

void append(std::string &list, std::string_view item, bool first) {
    if (!first) list += ',';
    list += item;
}

// libpq's own rule: an absolute path (or an abstract socket, '@') is a Unix-socket directory.
bool is_socket_path(const std::string &host) {
    return host.empty() || host[0] == '/' || host[0] == '@';
}

bool is_numeric(const std::string &host) {
    unsigned char buffer[sizeof(in6_addr)];
    return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

struct ConninfoHosts {
    std::string host, hostaddr, port;
};

bool read_hosts(const std::string &conninfo, ConninfoHosts &out) {
    char *error = nullptr;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
        PQconninfoParse(conninfo.c_str(), &error), &PQconninfoFree);
    PQfreemem(error);
    if (!options) return false;  // libpq reports it when it connects
    for (const PQconninfoOption *o = options.get(); o->keyword != nullptr; ++o) {
        if (o->val == nullptr) continue;
        if (std::strcmp(o->keyword, "host") == 0) out.host = o->val;
        if (std::strcmp(o->keyword, "hostaddr") == 0) out.hostaddr = o->val;
        if (std::strcmp(o->keyword, "port") == 0) out.port = o->val;
        // A service file may name the host: libpq reads it; leave the conninfo alone.
        if (std::strcmp(o->keyword, "service") == 0 && *o->val != '\0') return false;
    }
    const auto from_env = [](std::string &value, const char *name) {
        const char *env = std::getenv(name);
        if (value.empty() && env != nullptr) value = env;
    };
    from_env(out.host, "PGHOST");
    from_env(out.hostaddr, "PGHOSTADDR");
    from_env(out.port, "PGPORT");
    return true;
}

struct Lookup {
    std::string name;
    int error = 0;
    std::vector<std::string> addresses;  // numeric, in getaddrinfo's order
};

void look_up(Lookup &lookup) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *found = nullptr;
    lookup.error = getaddrinfo(lookup.name.c_str(), nullptr, &hints, &found);
    if (lookup.error != 0) return;
    for (const addrinfo *a = found; a != nullptr; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        const void *address = nullptr;
        if (a->ai_family == AF_INET) {
            address = &reinterpret_cast<const sockaddr_in *>(a->ai_addr)->sin_addr;
        } else if (a->ai_family == AF_INET6) {
            address = &reinterpret_cast<const sockaddr_in6 *>(a->ai_addr)->sin6_addr;
        }
        if (address != nullptr && inet_ntop(a->ai_family, address, text, sizeof text) != nullptr) {
            lookup.addresses.emplace_back(text);
        }
    }
    freeaddrinfo(found);
    if (lookup.addresses.empty()) lookup.error = EAI_NONAME;
}

// Runs the lookup on a resolver thread; false if the deadline came first.
bool look_up_by(const std::shared_ptr<Lookup> &lookup, TimePoint deadline,
                const std::atomic<bool> &abandon) {
    return resolver_threads().run([lookup] { look_up(*lookup); }, deadline, &abandon) ==
           BoundedWorkers::Outcome::done;
}

bool has_host_name(const std::vector<std::string> &hosts) {
    return std::any_of(hosts.begin(), hosts.end(), [](const std::string &host) {
        return !is_socket_path(host) && !is_numeric(host);
    });
}

// The hostaddr entries for one host: "" for a socket (libpq goes by `host`), the host itself
// if numeric, else its addresses (none if the name did not resolve: `error` says why).
ResolveOutcome addresses_of(const std::string &host, TimePoint deadline,
                            const std::atomic<bool> &abandon, std::vector<std::string> &addresses,
                            std::string &error) {
    if (is_socket_path(host)) {
        addresses.emplace_back();
        return ResolveOutcome::resolved;
    }
    if (is_numeric(host)) {
        addresses.push_back(host);
        return ResolveOutcome::resolved;
    }
    auto lookup = std::make_shared<Lookup>();
    lookup->name = host;
    if (!look_up_by(lookup, deadline, abandon)) {
        error = "host-name resolution of \"" + host +
                "\" did not finish in time; check the DNS servers (/etc/resolv.conf) or give an "
                "IP address";
        return ResolveOutcome::timed_out;
    }
    if (lookup->error != 0) {
        error = "could not translate host name \"" + host +
                "\" to address: " + gai_strerror(lookup->error);
        return ResolveOutcome::failed;
    }
    addresses = std::move(lookup->addresses);
    return ResolveOutcome::resolved;
}

}  // namespace

ResolveOutcome resolve_host_names(const std::string &conninfo, TimePoint deadline,
                                  const std::atomic<bool> &abandon, HostOverrides &overrides,
                                  std::string &message) {
    ConninfoHosts given;
    if (!read_hosts(conninfo, given) || !given.hostaddr.empty()) return ResolveOutcome::untouched;
    const std::vector<std::string> hosts = split_list(given.host);
    const std::vector<std::string> ports = split_list(given.port);
    if (ports.size() > 1 && ports.size() != hosts.size()) return ResolveOutcome::untouched;
    if (!has_host_name(hosts)) return ResolveOutcome::untouched;

    HostOverrides out;
    bool first = true;
    std::string error;
    for (size_t i = 0; i < hosts.size(); ++i) {
        std::vector<std::string> addresses;
        switch (addresses_of(hosts[i], deadline, abandon, addresses, error)) {
            case ResolveOutcome::timed_out:
                message = error;
                return ResolveOutcome::timed_out;
            case ResolveOutcome::failed:  // like libpq with several hosts: try the others
                continue;
            case ResolveOutcome::untouched:
            case ResolveOutcome::resolved:
                break;
        }
        const std::string port = ports.empty() ? "" : ports[ports.size() == 1 ? 0 : i];
        for (const std::string &address : addresses) {
            append(out.host, hosts[i], first);
            append(out.hostaddr, address, first);
            append(out.port, port, first);
            first = false;
        }
    }
    if (first) {
        message = error;
        return ResolveOutcome::failed;
    }
    if (ports.empty()) out.port.clear();  // libpq's default port for every entry
    overrides = std::move(out);
    return ResolveOutcome::resolved;
}

}  // namespace connpool
