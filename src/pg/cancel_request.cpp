#include "pg/cancel_request.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

#include "pg/bounded_workers.hpp"
#include "pg/libpq_helpers.hpp"
#include "pg/pg_cancel_layout.h"

namespace connpool {
namespace {

// The protocol's CancelRequest: length 16, then this code ((1234 << 16) | 5678), the backend's
// PID and its secret key, all big-endian.
constexpr uint32_t kCancelRequestCode = 80877102;
constexpr uint32_t kCancelRequestLength = 16;

// Requests that may wait for the fallback's one thread; more fail at once.
constexpr size_t kFallbackQueue = 64;

class Socket {
  public:
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    Socket(const Socket &) = delete;
    Socket &operator=(const Socket &) = delete;
    int fd() const { return fd_; }

  private:
    int fd_;
};

std::string errno_text(const char *what) {
    return std::string(what) + ": " + std::strerror(errno);
}

enum class Wait : uint8_t { ready, deadline, error };

// Waits until `fd` is ready for `events` or `deadline` passes.
Wait wait_for(int fd, short events, TimePoint deadline) {
    for (;;) {
        const auto left = std::chrono::ceil<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return Wait::deadline;
        pollfd p{fd, events, 0};
        const int rc = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, INT_MAX)));
        if (rc > 0) return Wait::ready;
        if (rc < 0 && errno != EINTR) return Wait::error;
    }
}

// Connects the non-blocking socket. A full Unix-socket backlog (EAGAIN) is retried.
CancelOutcome connect_to(int fd, const CancelKey &key, TimePoint deadline, std::string &message) {
    const auto *address = reinterpret_cast<const sockaddr *>(&key.address);
    while (::connect(fd, address, key.address_length) != 0) {
        if (errno == EAGAIN) {
            if (Clock::now() >= deadline) return CancelOutcome::timed_out;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        if (errno != EINPROGRESS && errno != EINTR) {
            message = errno_text("could not connect to the server");
            return CancelOutcome::failed;
        }
        switch (wait_for(fd, POLLOUT, deadline)) {
            case Wait::deadline:
                return CancelOutcome::timed_out;
            case Wait::error:
                message = errno_text("could not wait for the connection");
                return CancelOutcome::failed;
            case Wait::ready:
                break;
        }
        int error = 0;
        socklen_t length = sizeof error;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
        if (error != 0) {
            message = std::string("could not connect to the server: ") + std::strerror(error);
            return CancelOutcome::failed;
        }
        break;
    }
    return CancelOutcome::delivered;
}

CancelOutcome send_packet(int fd, const CancelKey &key, TimePoint deadline, std::string &message) {
    const uint32_t words[4] = {htonl(kCancelRequestLength), htonl(kCancelRequestCode),
                               htonl(static_cast<uint32_t>(key.backend_pid)),
                               htonl(static_cast<uint32_t>(key.secret))};
    const auto *bytes = reinterpret_cast<const char *>(words);
    size_t sent = 0;
    while (sent < sizeof words) {
        const ssize_t n = ::send(fd, bytes + sent, sizeof words - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (errno != EAGAIN && errno != EINTR) {
            message = errno_text("could not send the cancel request");
            return CancelOutcome::failed;
        }
        if (wait_for(fd, POLLOUT, deadline) == Wait::deadline) return CancelOutcome::timed_out;
    }
    return CancelOutcome::delivered;
}

// The server closes the socket once it has taken the request; like PQcancel, anything it does
// (EOF, a reset) counts as that.
CancelOutcome await_close(int fd, TimePoint deadline) {
    for (;;) {
        if (wait_for(fd, POLLIN, deadline) == Wait::deadline) return CancelOutcome::timed_out;
        char byte = 0;
        const ssize_t n = ::recv(fd, &byte, 1, 0);
        if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return CancelOutcome::delivered;
    }
}

BoundedWorkers &fallback_worker() {
    static BoundedWorkers &workers = *new BoundedWorkers(1, kFallbackQueue);
    return workers;
}

}  // namespace

bool read_cancel_key(const pg_cancel *cancel, CancelKey &out) {
    // The layout compiled in is that of one major version: trust it only with that libpq.
    static const bool layout_known =
        pgcancel_layout_major() != 0 && PQlibVersion() / 10000 == pgcancel_layout_major();
    if (!layout_known || cancel == nullptr) return false;
    size_t length = 0;
    int pid = 0;
    int secret = 0;
    if (pgcancel_layout_read(cancel, &out.address, sizeof out.address, &length, &pid, &secret) !=
        1) {
        return false;
    }
    out.address_length = static_cast<socklen_t>(length);
    out.backend_pid = pid;
    out.secret = secret;
    return true;
}

CancelOutcome send_cancel_request(const CancelKey &key, TimePoint deadline, std::string &message) {
    const Socket socket(
        ::socket(key.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (socket.fd() < 0) {
        message = errno_text("could not create a socket");
        return CancelOutcome::failed;
    }
    CancelOutcome outcome = connect_to(socket.fd(), key, deadline, message);
    if (outcome == CancelOutcome::delivered)
        outcome = send_packet(socket.fd(), key, deadline, message);
    if (outcome == CancelOutcome::delivered) outcome = await_close(socket.fd(), deadline);
    return outcome;
}

CancelOutcome cancel_on_worker(std::shared_ptr<pg_cancel> cancel, TimePoint deadline,
                               std::string &message) {
    // The job owns its PGcancel and its result: it may finish after its caller gave up.
    struct Result {
        bool ok = false;
        char error[256] = {};
    };
    auto result = std::make_shared<Result>();
    const BoundedWorkers::Outcome outcome = fallback_worker().run(
        [cancel = std::move(cancel), result] {
            result->ok = PQcancel(cancel.get(), result->error, sizeof result->error) == 1;
        },
        deadline);
    switch (outcome) {
        case BoundedWorkers::Outcome::done:
            if (result->ok) return CancelOutcome::delivered;
            message = trimmed(result->error);
            return CancelOutcome::failed;
        case BoundedWorkers::Outcome::timed_out:
        case BoundedWorkers::Outcome::busy:  // earlier requests hold the thread: as good as late
            break;
    }
    return CancelOutcome::timed_out;
}

}  // namespace connpool
