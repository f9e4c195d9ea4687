#include "pg/conninfo_hosts.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

#include "pg/conninfo.hpp"

namespace connpool {
namespace {

std::vector<std::string> split_list(const char *value) {
    std::vector<std::string> items;
    if (value == nullptr || *value == '\0') return items;
    std::string_view rest(value);
    for (;;) {
        const size_t comma = rest.find(',');
        items.emplace_back(rest.substr(0, comma));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return items;
}

// key='value' with libpq's quoting rules (backslash before ' and \).
void append_keyword(std::string &out, const char *key, std::string_view value) {
    if (!out.empty()) out += ' ';
    out += key;
    out += "='";
    for (const char c : value) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    out += '\'';
}

bool is_routing_keyword(const char *key) {
    return std::strcmp(key, "host") == 0 || std::strcmp(key, "hostaddr") == 0 ||
           std::strcmp(key, "port") == 0 || std::strcmp(key, "target_session_attrs") == 0;
}

// The i-th item of a per-host list: one item applies to every host, none means unset.
std::string item(const std::vector<std::string> &list, size_t i) {
    if (list.empty()) return {};
    return list.size() == 1 ? list[0] : list[i];
}

}  // namespace

Error split_conninfo_hosts(const char *conninfo, std::vector<NodeConninfo> &out) {
    ParsedConninfo checked;
    Error error = parse_conninfo(conninfo, checked);  // its own messages, never the input
    if (!error.ok()) return error;
    char *message = nullptr;
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
        PQconninfoParse(conninfo, &message), &PQconninfoFree);
    PQfreemem(message);
    if (!options) return {CONNPOOL_ERR_INVALID_ARGUMENT, "conninfo could not be parsed"};

    std::string common;
    std::vector<std::string> hosts, addresses, ports;
    for (const PQconninfoOption *o = options.get(); o->keyword != nullptr; ++o) {
        if (o->val == nullptr) continue;
        if (std::strcmp(o->keyword, "host") == 0) hosts = split_list(o->val);
        if (std::strcmp(o->keyword, "hostaddr") == 0) addresses = split_list(o->val);
        if (std::strcmp(o->keyword, "port") == 0) ports = split_list(o->val);
        if (!is_routing_keyword(o->keyword)) append_keyword(common, o->keyword, o->val);
    }
    const size_t count = std::max<size_t>({hosts.size(), addresses.size(), 1});
    const auto fits = [count](const std::vector<std::string> &list) {
        return list.size() <= 1 || list.size() == count;
    };
    if (!fits(hosts) || !fits(addresses) || !fits(ports)) {
        return {CONNPOOL_ERR_INVALID_ARGUMENT,
                "conninfo: host, hostaddr and port must list one value or one per host (" +
                    std::to_string(count) + " hosts)"};
    }
    std::vector<NodeConninfo> nodes;
    for (size_t i = 0; i < count; ++i) {
        NodeConninfo node;
        const std::string host = item(hosts, i), address = item(addresses, i);
        node.host = host.empty() ? address : host;
        node.port = item(ports, i);
        node.conninfo = common;
        if (!host.empty()) append_keyword(node.conninfo, "host", host);
        if (!address.empty()) append_keyword(node.conninfo, "hostaddr", address);
        if (!node.port.empty()) append_keyword(node.conninfo, "port", node.port);
        nodes.push_back(std::move(node));
    }
    out = std::move(nodes);
    return {};
}

}  // namespace connpool
