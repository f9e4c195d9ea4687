// Keeps a pool that asked for a writable server (target_session_attrs=read-write or primary)
// off servers that turned read-only after its connections were opened: libpq checks the role
// only while connecting, so without this a pool keeps handing out connections to a demoted or
// fenced primary, each write failing with SQLSTATE 25006, for as long as the server stays up.
//
// Evidence, none of it costing a round trip: the server's ParameterStatus (`in_hot_standby`,
// `default_transaction_read_only`: reported by PostgreSQL 14 and later, whenever they change)
// and SQLSTATE 25006 on a statement. A connection found read-only is discarded and its server
// is fenced: every connection to it opened before that moment fails its next liveness check,
// so the pool's idle sweep drops them all and new connects (with libpq's own role check) go to
// the new primary. Connection loss needs nothing here: the existing liveness checks and sweep
// already drop the other connections to a server that went away.
#pragma once

#include <cstdint>
#include <string>

#include <libpq-fe.h>

#include "core/clock.hpp"

namespace connpool {

struct ServerRole {
    std::string node;               // "host:port" that libpq reached
    bool must_be_writable = false;  // target_session_attrs was read-write or primary
    TimePoint connected_at{};       // connections opened before a fence are distrusted
    bool read_only_error = false;   // a statement failed with 25006 since the last release
    uint64_t fences_checked = 0;    // fences set when `fenced` last found this one unfenced
};

// Fills `role` from an established connection (PQconninfo, PQhost, PQport). Allocates:
// for the connect path only.
void observe_server_role(PGconn *conn, ServerRole &role);

// The server says, through a ParameterStatus, that sessions there are read-only.
bool reports_read_only(const PGconn *conn);

// Whether the server reports the two parameters at all (PostgreSQL 14 and later).
bool reports_role(const PGconn *conn);

// Marks `node` as read-only as of now: connections to it opened earlier are stale.
void fence_node(const std::string &node);

// A writable-only connection to a server fenced after it was opened. One atomic load unless a
// fence was set since this connection was last checked (a connection once found unfenced stays
// so until the next fence): the process-wide list is locked only then.
bool fenced(ServerRole &role);

// What release decides for a connection that must reach a writable server.
enum class RoleVerdict {
    keep,            // nothing suggests the server turned read-only
    discard_fenced,  // the server is read-only: close it and fence the server
    discard,         // 25006 from a server that does not report its role: close just this one
};
RoleVerdict role_verdict_on_release(const PGconn *conn, ServerRole &role);

}  // namespace connpool
