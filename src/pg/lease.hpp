// What the C API does with a leased connection besides statements (pg/query.hpp): its socket,
// identity, transaction state, the raw PGconn, a cancel request. The header does not include
// libpq.
#pragma once

#include <cstdint>
#include <string>

#include "core/connector.hpp"
#include "pg/cancel_request.hpp"

namespace connpool {

class PgConnection;

// The libpq connection behind a pooled connection; nullptr for another connector's (tests).
PgConnection *as_pg(Connection *connection);

int32_t socket_of(const PgConnection &pg);
// Unique within the process, never reused.
uint64_t connection_id(const PgConnection &pg);
// libpq's PQTRANS_* value, read without I/O.
int32_t transaction_status(const PgConnection &pg);
// The PGconn, for callers that use libpq themselves; the statement cache distrusts its entries
// before the next statement (the caller may deallocate them).
void *take_raw_pgconn(PgConnection &pg);
// Makes the session's current settings the connection's own: the full reset restores them
// (connpool_lease_keep_session). Anything but `kept` comes with `message`.
enum class KeepSession : uint8_t { kept, statement_pending, query_failed, connection_broken };
KeepSession keep_session_settings(PgConnection &pg, std::string &message);
// Asks the server to cancel what runs on the connection, within cancel_timeout; `message` says
// why unless the request was delivered.
CancelOutcome cancel_statement(const PgConnection &pg, std::string &message);

}  // namespace connpool
