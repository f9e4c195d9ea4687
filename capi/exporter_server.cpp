#include "exporter_server.hpp"

#include <pthread.h>
#include <unistd.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connpool/connpool.h"

// Boost.Asio and Beast give pointer parameters the default argument 0 (enable_if<...>::type * =
// 0); GCC reports it at every call site in this file, where no pointer is written by us.
#pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"

namespace connpool::capi {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Limits = ExporterLimits;

class Session;

// What the sessions share with the server; outlives every session (they hold it).
struct Shared {
    std::string admin_token;
    std::mutex mutex;
    std::condition_variable drained;
    std::unordered_map<Session *, std::weak_ptr<Session>> sessions;
    bool stopping = false;
};

// The reply to a request, from the one router every language uses.
http::response<http::string_body> answer(const http::request<http::string_body> &request,
                                         const std::string &admin_token) {
    const std::string method(request.method_string());
    const std::string target(request.target());
    const auto header = [&](http::field field) {
        const auto found = request.find(field);
        return found == request.end() ? std::string() : std::string(found->value());
    };
    const std::string authorization = header(http::field::authorization);
    const std::string accept = header(http::field::accept);

    int32_t status = 500;
    char *content_type = nullptr;
    char *body = nullptr;
    http::response<http::string_body> response;
    if (connpool_monitor_handle(&status, &content_type, &body, method.c_str(), target.c_str(),
                                authorization.c_str(), accept.c_str(), admin_token.c_str(),
                                nullptr) == CONNPOOL_OK) {
        response.result(static_cast<unsigned>(status));
        response.set(http::field::content_type, content_type);
        response.body() = body;
    } else {
        response.result(http::status::internal_server_error);
        response.set(http::field::content_type, "application/json");
        response.body() = "{\"error\": \"the monitoring router failed\"}";
    }
    connpool_string_free(content_type);
    connpool_string_free(body);
    if (response.result() == http::status::unauthorized) {
        response.set(http::field::www_authenticate, "Bearer");
    }
    return response;
}

// A reply for a request the parser refused: the router never sees it.
http::response<http::string_body> refusal(http::status status, const char *message) {
    http::response<http::string_body> response{status, 11};
    response.set(http::field::content_type, "application/json");
    response.body() = std::string("{\"error\": \"") + message + "\"}";
    return response;
}

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket &&socket, std::shared_ptr<Shared> shared)
        : stream_(std::move(socket)), shared_(std::move(shared)) {}
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;
    ~Session() {
        const std::lock_guard lock(shared_->mutex);
        shared_->sessions.erase(this);
        shared_->drained.notify_all();
    }

    void run() {
        asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
    }

    // From any thread: ends the session at its next step, at once if it waits for a request.
    void stop() {
        asio::post(stream_.get_executor(), [self = shared_from_this()] {
            self->stopping_ = true;
            if (self->reading_) self->stream_.close();
        });
    }

  private:
    void read() {
        if (stopping_) return close();
        parser_.emplace();
        parser_->header_limit(Limits::kMaxHeaderBytes);
        parser_->body_limit(Limits::kMaxBodyBytes);
        // The deadline covers the whole request, not each byte: a slow client is dropped.
        stream_.expires_after(Limits::kReadTimeout);
        reading_ = true;
        http::async_read(
            stream_, buffer_, *parser_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        reading_ = false;
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == asio::error::operation_aborted || stopping_) {
            return close();
        }
        if (ec) return write(parse_failure(ec), false);
        const http::request<http::string_body> &request = parser_->get();
        write(answer(request, shared_->admin_token), request.keep_alive());
    }

    static http::response<http::string_body> parse_failure(beast::error_code ec) {
        if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
            return refusal(http::status::request_header_fields_too_large,
                           "request line and headers too large");
        }
        if (ec == http::error::body_limit) {
            return refusal(http::status::payload_too_large, "request body too large");
        }
        return refusal(http::status::bad_request, "malformed HTTP request");
    }

    void write(http::response<http::string_body> response, bool keep_alive) {
        response_ = std::move(response);
        response_.version(11);
        response_.set(http::field::server, "libconnpool");
        response_.set(http::field::cache_control, "no-store");
        response_.keep_alive(keep_alive && !stopping_);
        response_.prepare_payload();
        stream_.expires_after(Limits::kWriteTimeout);
        http::async_write(
            stream_, response_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
    }

    void on_write(beast::error_code ec) {
        if (ec || !response_.keep_alive()) return close();
        read();
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.close();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_{Limits::kMaxHeaderBytes + Limits::kMaxBodyBytes};
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
    std::shared_ptr<Shared> shared_;
    bool reading_ = false;   // touched on the session's strand only
    bool stopping_ = false;  // likewise
};

struct ParsedAddress {
    asio::ip::address host;
    uint16_t port = 0;
};

std::optional<ParsedAddress> parse_address(std::string_view address, std::string &why) {
    std::string_view host;
    std::string_view port;
    if (!address.empty() && address.front() == '[') {
        const size_t close = address.find(']');
        if (close == std::string_view::npos || address.substr(close + 1, 1) != ":") {
            why = "expected [IPv6]:PORT";
            return std::nullopt;
        }
        host = address.substr(1, close - 1);
        port = address.substr(close + 2);
    } else {
        const size_t colon = address.rfind(':');
        if (colon == std::string_view::npos || address.substr(0, colon).find(':') != address.npos) {
            why = "expected HOST:PORT (an IPv6 host goes in brackets)";
            return std::nullopt;
        }
        host = address.substr(0, colon);
        port = address.substr(colon + 1);
    }
    ParsedAddress parsed;
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoul(std::string(port)) > 65535) {
        why = "the port must be a number from 0 to 65535 (0 picks a free one)";
        return std::nullopt;
    }
    parsed.port = static_cast<uint16_t>(std::stoul(std::string(port)));
    beast::error_code ec;
    parsed.host = host == "localhost" ? asio::ip::address(asio::ip::address_v4::loopback())
                                      : asio::ip::make_address(std::string(host), ec);
    if (ec) {
        why = "the host must be an IP address or localhost (no name lookup)";
        return std::nullopt;
    }
    return parsed;
}

// Process-directed signals belong to the application's threads, never to the exporter's.
void block_signals_in_this_thread() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

}  // namespace

struct ExporterServer::Impl {
    std::shared_ptr<Shared> shared = std::make_shared<Shared>();
    asio::io_context io{Limits::kThreads};
    tcp::acceptor acceptor{asio::make_strand(io)};
    std::vector<std::thread> threads;
    uint16_t port = 0;
    bool stopped = false;
    bool abandoned = false;  // in a forked child: never stopped, never destroyed

    bool listen(const ParsedAddress &address, std::string &why) {
        const tcp::endpoint endpoint(address.host, address.port);
        beast::error_code ec;
        acceptor.open(endpoint.protocol(), ec);
        if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor.bind(endpoint, ec);
        if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            why = ec.message();
            return false;
        }
        port = acceptor.local_endpoint(ec).port();
        return !ec;
    }

    void accept() {
        acceptor.async_accept(asio::make_strand(io),
                              [this](beast::error_code ec, tcp::socket socket) {
                                  if (ec == asio::error::operation_aborted) return;
                                  if (!ec) admit(std::move(socket));
                                  accept();
                              });
    }

    // On the acceptor's strand. Past the connection cap the socket is closed at once (its
    // destructor): a flood of connections costs no thread and little memory.
    void admit(tcp::socket socket) {
        std::shared_ptr<Session> session;
        {
            const std::lock_guard lock(shared->mutex);
            if (shared->stopping || shared->sessions.size() >= Limits::kMaxConnections) return;
            session = std::make_shared<Session>(std::move(socket), shared);
            shared->sessions.emplace(session.get(), session);
        }
        session->run();
    }

    void start_threads() {
        for (int i = 0; i < Limits::kThreads; ++i) {
            threads.emplace_back([this] {
                block_signals_in_this_thread();
                pthread_setname_np(pthread_self(), "connpool-export");
                io.run();
            });
        }
    }

    void stop() {
        if (stopped) return;
        stopped = true;
        // On the acceptor's strand, so that no accept completes after the snapshot below.
        asio::post(acceptor.get_executor(), [this] {
            beast::error_code ignored;
            acceptor.close(ignored);
            std::vector<std::shared_ptr<Session>> open;
            {
                const std::lock_guard lock(shared->mutex);
                shared->stopping = true;
                for (auto &entry : shared->sessions) {
                    if (auto session = entry.second.lock()) open.push_back(std::move(session));
                }
                shared->drained.notify_all();  // no session open: nothing else would notify
            }
            for (auto &session : open) session->stop();
        });
        {
            std::unique_lock lock(shared->mutex);
            shared->drained.wait_for(lock, Limits::kStopGrace, [this] {
                return shared->stopping && shared->sessions.empty();
            });
        }
        io.stop();
        for (std::thread &thread : threads) thread.join();
        threads.clear();
    }
};

ExporterServer::ExporterServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ExporterServer::~ExporterServer() {
    if (impl_ && !impl_->abandoned) impl_->stop();
}

std::unique_ptr<ExporterServer> ExporterServer::start(std::string_view address,
                                                      std::string admin_token, Error &error) {
    std::string why;
    const std::optional<ParsedAddress> parsed = parse_address(address, why);
    if (!parsed) {
        error = Error(CONNPOOL_ERR_INVALID_ARGUMENT,
                      "connpool_exporter_start: address \"" + std::string(address) + "\": " + why);
        return nullptr;
    }
    auto impl = std::make_unique<Impl>();
    impl->shared->admin_token = std::move(admin_token);
    if (!impl->listen(*parsed, why)) {
        error = Error(CONNPOOL_ERR_INVALID_ARGUMENT, "connpool_exporter_start: cannot listen on " +
                                                         std::string(address) + ": " + why);
        return nullptr;
    }
    impl->accept();
    impl->start_threads();
    return std::unique_ptr<ExporterServer>(new ExporterServer(std::move(impl)));
}

uint16_t ExporterServer::port() const {
    return impl_->port;
}

void ExporterServer::stop() {
    impl_->stop();
}

void ExporterServer::abandon_after_fork() {
    ::close(impl_->acceptor.native_handle());
    impl_->abandoned = true;
}

}  // namespace connpool::capi
