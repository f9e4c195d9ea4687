// A plain-socket HTTP client for the exporter tests: it sends exactly the bytes a test gives
// (well-formed or not) and reads whatever comes back, so nothing smooths over a malformed
// request the way a real client library would.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace connpool::httptest {

// One TCP connection to 127.0.0.1:port; closed by the destructor.
class Connection {
  public:
    explicit Connection(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<uint16_t>(port));
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;
    ~Connection() {
        if (fd_ >= 0) ::close(fd_);
    }
    bool connected() const { return fd_ >= 0; }

    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }

    // Reads until the peer closes or `timeout` passes; `closed` says which.
    std::string read_until_closed(std::chrono::milliseconds timeout, bool *closed = nullptr) {
        std::string data;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        if (closed != nullptr) *closed = false;
        while (true) {
            // Polled at least once, so a zero timeout still sees what has already arrived.
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count()))) <= 0) {
                return data;
            }
            char buffer[4096];
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) {
                if (closed != nullptr) *closed = true;
                return data;
            }
            data.append(buffer, static_cast<size_t>(n));
        }
    }

    // Reads one response whose body length is given by Content-Length.
    std::string read_response(std::chrono::milliseconds timeout) {
        std::string data;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            const size_t header_end = data.find("\r\n\r\n");
            if (header_end != std::string::npos) {
                const size_t at = data.find("Content-Length: ");
                const size_t length =
                    at == std::string::npos ? 0 : std::stoul(data.substr(at + 16));
                if (data.size() >= header_end + 4 + length) return data;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return data;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return data;
            char buffer[4096];
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) return data;
            data.append(buffer, static_cast<size_t>(n));
        }
    }

  private:
    int fd_ = -1;
};

struct Response {
    int status = 0;  // 0: no HTTP response came back
    std::string head;
    std::string body;
};

inline Response parse_response(const std::string &raw) {
    Response response;
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return response;
    response.status = std::stoi(raw.substr(9, 3));
    const size_t end = raw.find("\r\n\r\n");
    response.head = raw.substr(0, end);
    if (end != std::string::npos) response.body = raw.substr(end + 4);
    return response;
}

// One request on a fresh connection ("Connection: close"), the whole response.
inline Response request(int port, std::string_view method, std::string_view target,
                        std::string_view extra_headers = {}) {
    Connection connection(port);
    if (!connection.connected()) return {};
    std::string raw = std::string(method) + " " + std::string(target) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                      std::string(extra_headers) + "\r\n";
    if (!connection.send(raw)) return {};
    return parse_response(connection.read_until_closed(std::chrono::seconds(20)));
}

// The value of a header in a response head (case-sensitive name as the server writes it).
inline std::string header_value(const Response &response, std::string_view name) {
    const std::string key = "\r\n" + std::string(name) + ": ";
    const size_t at = response.head.find(key);
    if (at == std::string::npos) return {};
    const size_t start = at + key.size();
    return response.head.substr(start, response.head.find("\r\n", start) - start);
}

}  // namespace connpool::httptest
