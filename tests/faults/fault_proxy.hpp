// A fault-injecting TCP proxy on 127.0.0.1 for the fault tests: it forwards to PostgreSQL's
// TCP port and, on command, delays, stalls, accepts but stays silent, resets, or refuses.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace connpool::faults {

class FaultProxy {
  public:
    enum class Mode {
        pass,    // forward everything
        delay,   // forward, sleeping delay_ms before each chunk
        stall,   // existing and new connections stop moving bytes (a black hole)
        silent,  // new connections are accepted but never answered
        reset,   // new connections are accepted and reset at once
        refuse,  // nothing listens: connection refused
    };

    explicit FaultProxy(int upstream_port) : upstream_port_(upstream_port) {
        listen_on(0);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~FaultProxy() {
        stop_ = true;
        acceptor_.join();
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto &t : relays_) t.join();
        for (int fd : held_) ::close(fd);
        if (listen_fd_ >= 0) ::close(listen_fd_);
    }
    int port() const { return port_; }
    void set_mode(Mode mode, int delay_ms = 0) {
        delay_ms_ = delay_ms;
        mode_ = mode;
    }

  private:
    void listen_on(int port) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int one = 1;
        setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port));
        if (::bind(listen_fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
            ::listen(listen_fd_, 64) != 0) {
            throw std::runtime_error("proxy: cannot listen");
        }
        socklen_t len = sizeof addr;
        getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }

    void accept_loop() {
        while (!stop_) {
            if (mode_ == Mode::refuse) {  // close the listener; reopen on the same port later
                if (listen_fd_ >= 0) ::close(listen_fd_), listen_fd_ = -1;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            if (listen_fd_ < 0) listen_on(port_);
            pollfd p{listen_fd_, POLLIN, 0};
            if (poll(&p, 1, 20) <= 0) continue;
            const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) continue;
            const Mode mode = mode_;
            if (mode == Mode::reset) {
                linger l{1, 0};  // close with RST
                setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
                ::close(client);
            } else if (mode == Mode::silent) {
                std::lock_guard<std::mutex> lock(mutex_);
                held_.push_back(client);
            } else {
                std::lock_guard<std::mutex> lock(mutex_);
                relays_.emplace_back([this, client] { relay(client); });
            }
        }
    }

    void relay(int client) {
        const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
        if (::connect(upstream, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
            ::close(upstream);
            ::close(client);
            return;
        }
        char buffer[16384];
        pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
        while (!stop_) {
            if (mode_ == Mode::stall) {  // hold both ends open, move nothing
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                continue;
            }
            if (poll(fds, 2, 20) <= 0) continue;
            bool closed = false;
            for (int i = 0; i < 2 && !closed; ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
                if (n <= 0) {
                    closed = true;
                    break;
                }
                if (mode_ == Mode::delay) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
                }
                const int to = fds[1 - i].fd;
                for (ssize_t sent = 0; sent < n;) {
                    const ssize_t w = ::write(to, buffer + sent, static_cast<size_t>(n - sent));
                    if (w <= 0) {
                        closed = true;
                        break;
                    }
                    sent += w;
                }
            }
            if (closed) break;
        }
        ::close(upstream);
        ::close(client);
    }

    const int upstream_port_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<Mode> mode_{Mode::pass};
    std::atomic<int> delay_ms_{0};
    std::atomic<bool> stop_{false};
    std::thread acceptor_;
    std::mutex mutex_;
    std::vector<std::thread> relays_;
    std::vector<int> held_;
};

}  // namespace connpool::faults
