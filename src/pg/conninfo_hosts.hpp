// Splitting a multi-host connection string (host=a,b port=p,q) into one connection string per
// server, for a pool group that keeps a pool per node.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"

namespace connpool {

struct NodeConninfo {
    std::string host;      // as written (host, else hostaddr; "" = libpq's default socket)
    std::string port;      // as written ("" = libpq's default)
    std::string conninfo;  // every other keyword of the original, this node's host/port only
};

// One entry per host, in the order written. target_session_attrs is dropped: each node pool
// connects to its own server whatever its role, and the group routes by role. Errors never
// quote the input (it may hold a password).
Error split_conninfo_hosts(const char *conninfo, std::vector<NodeConninfo> &out);

}  // namespace connpool
