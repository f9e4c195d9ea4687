// Cancel requests with a deadline. libpq 15's PQcancel blocks: against a silent or black-holed
// server it hangs its caller until TCP gives up. Here the CancelRequest is sent on a
// non-blocking socket and every step (connect, send, the server closing the socket) is bounded
// by the caller's deadline; no thread is used. When this libpq's PGcancel layout is not the
// one compiled in (pg_cancel_layout.h), PQcancel runs on one shared worker thread instead and
// the caller waits for it at most until its deadline.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/clock.hpp"

struct pg_cancel;  // libpq's PGcancel (this header does not include libpq)

namespace connpool {

enum class CancelOutcome : uint8_t {
    delivered,  // the server took the request (it closed the socket)
    timed_out,  // the deadline passed first
    failed,     // the request could not be sent (message says why)
};

// Where and how to cancel one backend's statement: the server's address (TCP or Unix socket)
// and the key the server sent in BackendKeyData.
struct CancelKey {
    sockaddr_storage address{};
    socklen_t address_length = 0;
    int32_t backend_pid = 0;
    int32_t secret = 0;
};

// Reads the key libpq keeps in `cancel`; false when this libpq's layout is not the one
// compiled in (a libpq of another major version) or the build had no libpq-int.h.
bool read_cancel_key(const pg_cancel *cancel, CancelKey &out);

// Connects, sends the 16-byte CancelRequest and waits for the server to close the socket,
// giving up at `deadline`. Fills `message` when the outcome is `failed`.
CancelOutcome send_cancel_request(const CancelKey &key, TimePoint deadline, std::string &message);

// The fallback: libpq's PQcancel on the one shared cancel thread, waited for until `deadline`.
// `cancel` is shared so that a request the caller gave up on still has its PGcancel.
CancelOutcome cancel_on_worker(std::shared_ptr<pg_cancel> cancel, TimePoint deadline,
                               std::string &message);

}  // namespace connpool
