// The embedded HTTP exporter's server: a small Boost.Beast (header-only, compiled in with
// hidden symbols) HTTP/1.1 server that passes every request to connpool_monitor_handle.
//
// Bounded on every side, because whoever can reach the port can send anything:
// a fixed number of threads, a cap on open connections (more are closed at once), limits on
// the request header and body, and a deadline for reading each request and for writing each
// reply (a client that sends a byte a minute is dropped at the deadline).
//
// Beast stays inside exporter_server.cpp: this header shows none of it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace connpool::capi {

struct ExporterLimits {
    static constexpr int kThreads = 2;
    static constexpr size_t kMaxConnections = 64;
    static constexpr uint32_t kMaxHeaderBytes = 8 * 1024;          // request line + headers
    static constexpr uint64_t kMaxBodyBytes = uint64_t{4} * 1024;  // no route reads a body
    static constexpr std::chrono::seconds kReadTimeout{5};
    static constexpr std::chrono::seconds kWriteTimeout{5};
    // How long stop() lets replies in progress finish before it stops the threads.
    static constexpr std::chrono::seconds kStopGrace{5};
};

class ExporterServer {
  public:
    // Listens on `address` ("HOST:PORT", HOST an IPv4 literal, a bracketed IPv6 literal or
    // "localhost"; no name lookup, so starting never waits for DNS) and starts the threads.
    // On failure returns nullptr with `error` set (INVALID_ARGUMENT for a malformed address
    // or one that cannot be bound, naming why).
    static std::unique_ptr<ExporterServer> start(std::string_view address, std::string admin_token,
                                                 Error &error);

    ExporterServer(const ExporterServer &) = delete;
    ExporterServer &operator=(const ExporterServer &) = delete;
    ~ExporterServer();  // stops, unless abandoned

    uint16_t port() const;

    // Stops accepting, closes idle connections, lets replies in progress finish (bounded by
    // kStopGrace) and joins the threads. Idempotent.
    void stop();

    // In a child process after fork(): the threads do not exist there and the reactor is
    // shared with the parent, so nothing may be stopped, joined or destroyed. Closes the
    // child's copy of the listening socket (so a long-lived child does not keep the port); the
    // caller keeps this object alive for good.
    void abandon_after_fork();

  private:
    struct Impl;
    explicit ExporterServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace connpool::capi
