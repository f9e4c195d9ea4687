#include "pg/multiplexer.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "pg/connector.hpp"
#include "pg/lease.hpp"
#include "pg/libpq_helpers.hpp"

namespace connpool {

namespace {

// Statements queued per multiplexed connection before submitters wait (or are refused).
constexpr size_t kQueuePerConnection = 1024;
// Statements one connection has written and not yet answered; beyond, it stops taking more.
constexpr size_t kMaxInFlight = 256;
// Statements taken from the queue in one go: the rest is left for the other connections.
constexpr size_t kBatch = 64;
// Prepared statements kept per multiplexed connection; further texts run unprepared.
constexpr size_t kPreparedPerConnection = 256;
// How long a connection-less worker waits for the pool at a time (then re-checks stopping).
constexpr int64_t kAcquireSliceMs = 200;
// While statements wait, deadlines are checked at least this often.
constexpr int kDeadlineTickMs = 20;

void signal_fd(int fd) {
    const uint64_t one = 1;
    // A full counter (never, in practice) already reads as readable: nothing to do.
    [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
}

void drain_fd(int fd) {
    uint64_t value = 0;
    [[maybe_unused]] const ssize_t n = ::read(fd, &value, sizeof value);
}

int make_eventfd() {
    const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    return fd;
}

// SQLSTATE class 57P: the server is terminating this backend (pg_terminate_backend, shutdown).
bool is_terminating(const PGresult *r) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return state != nullptr && std::strncmp(state, "57P", 3) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MuxStatement

MuxStatement::MuxStatement(const char *sql, int32_t n_params, const char *const *params,
                           TimePoint deadline)
    : deadline_(deadline) {
    // One buffer for the text and every parameter: the caller's may be gone (timed out) when
    // the statement is written.
    std::vector<int64_t> offsets;
    offsets.reserve(static_cast<size_t>(n_params));
    text_.assign(sql);
    text_.push_back('\0');
    for (int32_t i = 0; i < n_params; ++i) {
        if (params[i] == nullptr) {
            offsets.push_back(-1);
            continue;
        }
        offsets.push_back(static_cast<int64_t>(text_.size()));
        text_.append(params[i]);
        text_.push_back('\0');
    }
    params_.reserve(offsets.size());
    for (const int64_t offset : offsets) {
        params_.push_back(offset < 0 ? nullptr : text_.c_str() + offset);
    }
}

MuxStatement::~MuxStatement() {
    if (event_fd_ >= 0) ::close(event_fd_);
}

void MuxStatement::finish(connpool_status status, std::unique_ptr<QueryResult> result,
                          Error error) {
    {
        std::lock_guard lock(mutex_);
        if (finished_) return;  // e.g. the result of a statement that already timed out
        finished_ = true;
        status_ = status;
        result_ = std::move(result);
        error_ = std::move(error);
        if (event_fd_ >= 0) signal_fd(event_fd_);
    }
    // Outside the lock: the woken caller takes the mutex at once to read the outcome.
    WakeFlag::wake(done_.set());
}

bool MuxStatement::finished() const {
    return done_.is_set();
}

bool MuxStatement::wait_until(TimePoint until) {
    return done_.wait_until(until);
}

int MuxStatement::fd() {
    std::lock_guard lock(mutex_);
    if (event_fd_ < 0) {
        event_fd_ = make_eventfd();
        if (finished_) signal_fd(event_fd_);
    }
    return event_fd_;
}

connpool_status MuxStatement::outcome(std::unique_ptr<QueryResult> &result, Error &error,
                                      bool &collected) {
    std::lock_guard lock(mutex_);
    collected = collected_;
    if (!finished_) return CONNPOOL_ERR_IN_PROGRESS;
    error = error_;
    if (!collected_) result = std::move(result_);
    collected_ = true;
    return status_;
}

// ---------------------------------------------------------------------------------------------
// The multiplexer: a bounded queue and one worker thread per shared connection.

namespace {

class Multiplexer {
  public:
    Multiplexer(std::shared_ptr<Pool> pool, int64_t connections)
        : pool_(std::move(pool)),
          ring_(kQueuePerConnection * static_cast<size_t>(connections)),
          workers_(static_cast<size_t>(connections)) {
        try {
            for (Worker &worker : workers_) worker.wake_fd = make_eventfd();
            for (Worker &worker : workers_) threads_.emplace_back([this, &worker] { run(worker); });
        } catch (...) {
            stop();
            close_wake_fds();  // no destructor runs for a throwing constructor
            throw;
        }
    }
    ~Multiplexer() {
        stop();
        close_wake_fds();
    }
    Multiplexer(const Multiplexer &) = delete;
    Multiplexer &operator=(const Multiplexer &) = delete;

    connpool_status push(const std::shared_ptr<MuxStatement> &statement, bool wait_for_space,
                         Error &error);
    void stop();

  private:
    struct InFlight {
        enum class Stage : uint8_t { prepare, execute, sync };
        std::shared_ptr<MuxStatement> statement;
        Stage stage = Stage::execute;
        std::string prepared_key;  // non-empty: this statement prepares that text
        PGresult *prepare_error = nullptr;
        PGresult *result = nullptr;
    };
    struct Prepared {
        std::string name;
        int32_t n_params = 0;
        bool ready = false;  // the server confirmed the Parse
    };
    // Looked up by the statement's text as it is (no key string built per statement).
    struct TextHash {
        using is_transparent = void;
        size_t operator()(std::string_view text) const {
            return std::hash<std::string_view>{}(text);
        }
    };
    // One worker thread and how to wake it. A worker parks (sleeps until woken) only when its
    // connection has nothing in flight: a busy worker wakes anyway when its results arrive and
    // then takes what was queued meanwhile, so submitters need not wake it (no system call, no
    // context switch per statement; the statements queued meanwhile go out in one write).
    struct Worker {
        int wake_fd = -1;
        std::atomic<bool> parked{false};
    };
    // One shared connection's state, private to its worker thread.
    struct Link {
        Slot *slot = nullptr;
        PgConnection *pg = nullptr;
        std::deque<InFlight> in_flight;
        std::unordered_map<std::string, Prepared, TextHash, std::equal_to<>> prepared;
        uint64_t next_name = 0;
        bool want_write = false;
        // Takes from the queue only when idle, woken, or answered since its last write: a
        // connection that only ticked (a long statement in flight) leaves new statements to the
        // idle connections a submitter wakes, instead of queueing them behind its own.
        bool may_take = true;
        bool corkable = true;  // a TCP socket (until TCP_CORK is refused, e.g. a Unix socket)
    };

    void run(Worker &worker);
    void close_wake_fds() {
        for (Worker &worker : workers_) {
            if (worker.wake_fd >= 0) ::close(worker.wake_fd);
            worker.wake_fd = -1;
        }
    }
    void wake_one();
    bool park(Worker &worker);
    bool connect(Link &link);
    bool write_batch(Link &link, std::vector<std::shared_ptr<MuxStatement>> &batch);
    bool wait_and_read(Link &link, Worker &worker);
    static bool set_cork(Link &link, bool on);
    void take_batch(Link &link, std::vector<std::shared_ptr<MuxStatement>> &batch);
    bool send(Link &link, std::shared_ptr<MuxStatement> statement);
    bool read_results(Link &link);
    bool take_result(Link &link, PGresult *r);
    static void note_prepared(Link &link, const InFlight &entry);
    void deliver(InFlight &entry);
    void expire(Link &link, TimePoint now);
    void sweep_queue(TimePoint now);
    void lose(Link &link, const std::string &why);
    void let_go(Link &link);

    const std::shared_ptr<Pool> pool_;
    std::mutex mutex_;
    std::condition_variable space_;
    std::vector<std::shared_ptr<MuxStatement>> ring_;  // guarded by mutex_
    size_t head_ = 0, count_ = 0;                      // guarded by mutex_
    size_t space_waiters_ = 0;                         // guarded by mutex_
    bool stopping_ = false;                            // guarded by mutex_
    std::atomic<bool> stop_flag_{false};
    std::vector<Worker> workers_;
    std::atomic<size_t> next_wake_{0};  // where wake_one starts looking: spreads the work
    std::vector<std::thread> threads_;
};

connpool_status Multiplexer::push(const std::shared_ptr<MuxStatement> &statement,
                                  bool wait_for_space, Error &error) {
    {
        std::unique_lock lock(mutex_);
        const auto room = [&] { return stopping_ || count_ < ring_.size(); };
        if (!room()) {
            bool got_room = false;
            if (wait_for_space) {
                ++space_waiters_;
                got_room = space_.wait_until(lock, statement->deadline(), room);
                --space_waiters_;
            }
            if (!got_room) {
                error = Error(wait_for_space ? CONNPOOL_ERR_TIMEOUT : CONNPOOL_ERR_TOO_MANY_WAITERS,
                              "the multiplexed statement queue is full (" +
                                  std::to_string(ring_.size()) +
                                  " statements): raise multiplexing_connections or the timeout, "
                                  "or submit fewer statements at once");
                return error.status;
            }
        }
        if (stopping_) {
            error = Error(CONNPOOL_ERR_POOL_CLOSED, "the pool was closed");
            return error.status;
        }
        ring_[(head_ + count_) % ring_.size()] = statement;
        ++count_;
    }
    // A parked worker is woken (busy ones take the statement when their results arrive); one
    // that takes a batch and leaves statements behind wakes the next one itself.
    wake_one();
    return CONNPOOL_OK;
}

// Wakes one parked worker, if any. Pairs with park(): the queue is changed under the mutex
// before the flags are read here, and a worker raises its flag before it looks at the queue
// under the mutex, so either the worker sees the statement or this sees the flag.
void Multiplexer::wake_one() {
    const size_t n = workers_.size();
    const size_t start = next_wake_.fetch_add(1, std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i) {
        Worker &worker = workers_[(start + i) % n];
        if (worker.parked.load() && worker.parked.exchange(false)) {
            signal_fd(worker.wake_fd);
            return;
        }
    }
}

// Marks `worker` parked unless statements are queued; true if it parked (it must then sleep on
// its wake_fd until woken).
bool Multiplexer::park(Worker &worker) {
    worker.parked.store(true);
    bool queued = false;
    {
        std::lock_guard lock(mutex_);
        queued = count_ > 0;
    }
    if (queued) worker.parked.store(false);
    return !queued;
}

void Multiplexer::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    stop_flag_.store(true);
    // Never drained again: every worker's poll returns at once.
    for (const Worker &worker : workers_) {
        if (worker.wake_fd >= 0) signal_fd(worker.wake_fd);
    }
    space_.notify_all();
    for (auto &thread : threads_) thread.join();
    std::vector<std::shared_ptr<MuxStatement>> left;
    {
        std::lock_guard lock(mutex_);
        for (; count_ > 0; --count_, head_ = (head_ + 1) % ring_.size()) {
            left.push_back(std::move(ring_[head_]));
        }
    }
    for (auto &statement : left) {
        statement->finish(CONNPOOL_ERR_POOL_CLOSED, nullptr,
                          Error(CONNPOOL_ERR_POOL_CLOSED, "the pool was closed"));
    }
}

void Multiplexer::run(Worker &worker) {
    Link link;
    std::vector<std::shared_ptr<MuxStatement>> batch;
    batch.reserve(kBatch);
    TimePoint last_sweep = Clock::now();
    while (!stop_flag_.load()) {
        if (link.slot == nullptr && !connect(link)) {
            sweep_queue(Clock::now());
            continue;
        }
        if (!write_batch(link, batch) || !wait_and_read(link, worker)) {
            lose(link, trimmed(PQerrorMessage(link.pg->get())));
            continue;
        }
        const TimePoint after = Clock::now();
        expire(link, after);
        if (after - last_sweep >= Millis(kDeadlineTickMs)) {
            sweep_queue(after);
            last_sweep = after;
        }
    }
    let_go(link);
}

// Takes what the queue has for this connection, writes it and flushes once. False when the
// connection failed.
bool Multiplexer::write_batch(Link &link, std::vector<std::shared_ptr<MuxStatement>> &batch) {
    if (!link.may_take && !link.in_flight.empty()) return true;
    link.may_take = false;
    take_batch(link, batch);
    if (batch.empty()) return true;
    // libpq 15's PQpipelineSync flushes: one send per statement, each a TCP segment that wakes
    // the backend and runs the loopback receive path. Corked, the batch leaves as full segments
    // when uncorked below: the backend wakes once per batch, not once per statement.
    const bool corked = batch.size() > 1 && set_cork(link, true);
    bool healthy = true;
    for (auto &statement : batch) {
        if (healthy) healthy = send(link, std::move(statement));
    }
    batch.clear();
    if (corked) set_cork(link, false);
    if (!healthy) return false;
    const int flushed = PQflush(link.pg->get());
    link.want_write = flushed == 1;
    return flushed >= 0;
}

// Sets TCP_CORK on the link's socket; false (and not tried again) where it is not TCP.
bool Multiplexer::set_cork(Link &link, bool on) {
    if (!link.corkable) return false;
    const int value = on ? 1 : 0;
    if (::setsockopt(PQsocket(link.pg->get()), IPPROTO_TCP, TCP_CORK, &value, sizeof value) != 0) {
        link.corkable = false;
        return false;
    }
    return true;
}

// Sleeps until the socket has something (or a deadline tick), or, with nothing in flight, until
// a submitter wakes this worker; then flushes and reads what the socket allows. False when the
// connection failed.
bool Multiplexer::wait_and_read(Link &link, Worker &worker) {
    PGconn *conn = link.pg->get();
    const bool idle = link.in_flight.empty() && !link.want_write;
    const bool parked = idle && park(worker);
    if (idle && !parked) return true;  // statements were queued meanwhile: take them now
    pollfd fds[2] = {
        {PQsocket(conn), static_cast<short>(POLLIN | (link.want_write ? POLLOUT : 0)), 0},
        {worker.wake_fd, POLLIN, 0}};
    // Deadlines of in-flight statements are checked every tick; a parked worker sleeps (the
    // queue is swept by the busy ones, and a parked worker is woken by the first statement).
    const int polled = ::poll(fds, 2, parked ? -1 : kDeadlineTickMs);
    if (parked) {
        worker.parked.store(false);  // woken by the socket, or already by wake_one
        link.may_take = true;
    }
    if (polled < 0) return errno == EINTR;
    if ((fds[1].revents & POLLIN) != 0 && !stop_flag_.load()) drain_fd(worker.wake_fd);
    if ((fds[0].revents & POLLOUT) != 0) {
        const int flushed = PQflush(conn);
        if (flushed < 0) return false;
        link.want_write = flushed == 1;
    }
    return (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) == 0 || read_results(link);
}

// Takes a shared connection from the pool and switches it to pipeline mode.
bool Multiplexer::connect(Link &link) {
    Slot *slot = nullptr;
    const TimePoint start = Clock::now();
    if (pool_->acquire(kAcquireSliceMs, slot, nullptr) != CONNPOOL_OK) {
        // The pool is closed or cannot connect (a refusal may come at once: no busy loop);
        // queued statements wait for their deadlines.
        std::this_thread::sleep_until(start + Millis(kAcquireSliceMs));
        return false;
    }
    PgConnection *pg = as_pg(slot->connection.get());
    if (pg == nullptr) {
        pool_->release(slot);
        std::this_thread::sleep_for(Millis(kAcquireSliceMs));
        return false;
    }
    // Its statement cache's prepared statements stay unused; ours are named apart
    // ("_connpool_mux_"), and the connection is closed rather than reused when we let go.
    PGconn *conn = pg->get();
    if (PQsetnonblocking(conn, 1) != 0 || PQenterPipelineMode(conn) != 1) {
        pg->poison();
        pool_->release(slot);
        return false;
    }
    // Held until the pool closes: a leak report (leak_threshold) should say by whom.
    pool_->set_label(*slot, "multiplexed statements (multiplexing_connections)");
    link.slot = slot;
    link.pg = pg;
    link.want_write = false;
    link.corkable = true;
    return true;
}

void Multiplexer::take_batch(Link &link, std::vector<std::shared_ptr<MuxStatement>> &batch) {
    const size_t room = kMaxInFlight - std::min(kMaxInFlight, link.in_flight.size());
    bool leftover = false;
    bool someone_waits = false;
    {
        std::lock_guard lock(mutex_);
        while (count_ > 0 && batch.size() < std::min(room, kBatch)) {
            batch.push_back(std::move(ring_[head_]));
            head_ = (head_ + 1) % ring_.size();
            --count_;
        }
        leftover = count_ > 0;
        someone_waits = space_waiters_ > 0;
    }
    if (!batch.empty() && someone_waits) space_.notify_all();
    if (leftover) wake_one();
}

// Writes one statement with its own sync point (buffered: flushed after the batch). A text
// seen before on this connection runs as a prepared statement. False if libpq refused.
bool Multiplexer::send(Link &link, std::shared_ptr<MuxStatement> statement) {
    if (statement->finished()) return true;  // timed out or cancelled while queued: dropped
    if (statement->deadline() <= Clock::now()) {
        statement->finish(CONNPOOL_ERR_TIMEOUT, nullptr,
                          Error(CONNPOOL_ERR_TIMEOUT,
                                "the multiplexed statement timed out before it could be sent (it "
                                "was not run); raise the timeout or multiplexing_connections"));
        return true;
    }
    PGconn *conn = link.pg->get();
    InFlight entry;
    const std::string_view text(statement->sql());
    auto found = link.prepared.find(text);
    int sent = 0;
    if (found != link.prepared.end() && found->second.ready &&
        found->second.n_params == statement->n_params()) {
        sent = PQsendQueryPrepared(conn, found->second.name.c_str(), statement->n_params(),
                                   statement->params(), nullptr, nullptr, 0);
    } else if (found == link.prepared.end() && link.prepared.size() < kPreparedPerConnection) {
        Prepared prepared{"_connpool_mux_" + std::to_string(link.next_name++),
                          statement->n_params(), false};
        sent = PQsendPrepare(conn, prepared.name.c_str(), statement->sql(), statement->n_params(),
                             nullptr) &&
               PQsendQueryPrepared(conn, prepared.name.c_str(), statement->n_params(),
                                   statement->params(), nullptr, nullptr, 0);
        entry.stage = InFlight::Stage::prepare;
        entry.prepared_key = text;
        link.prepared.emplace(std::string(text), std::move(prepared));
    } else {
        // Being prepared (not confirmed yet), the same text with another number of parameters,
        // or the table is full.
        sent = PQsendQueryParams(conn, statement->sql(), statement->n_params(), nullptr,
                                 statement->params(), nullptr, nullptr, 0);
    }
    if (sent != 1 || PQpipelineSync(conn) != 1) {
        // The statement may be half-written: it goes down with the connection.
        entry.statement = std::move(statement);
        link.in_flight.push_back(std::move(entry));
        return false;
    }
    entry.statement = std::move(statement);
    link.in_flight.push_back(std::move(entry));
    return true;
}

// Reads what arrived and routes every complete answer to its statement. False when the
// connection failed.
bool Multiplexer::read_results(Link &link) {
    PGconn *conn = link.pg->get();
    // A lost connection makes libpq invent errors for what is pending: every in-flight
    // statement fails as a lost connection instead.
    if (PQconsumeInput(conn) != 1) return false;
    while (!link.in_flight.empty() && !PQisBusy(conn)) {
        PGresult *r = PQgetResult(conn);
        if (r != nullptr && (is_copy(PQresultStatus(r)) || PQstatus(conn) == CONNECTION_BAD)) {
            PQclear(r);
            return false;  // COPY (refused by the keyword check) or a dying connection
        }
        if (!take_result(link, r)) return false;
    }
    return PQstatus(conn) != CONNECTION_BAD;
}

// One PQgetResult answer (`r` may be NULL: the end of a command's results) for the oldest
// in-flight statement, whose answer is prepare result(s), execute result, then the sync. False
// when the stream is out of step with the server or the backend is going away.
bool Multiplexer::take_result(Link &link, PGresult *r) {
    InFlight &entry = link.in_flight.front();
    switch (entry.stage) {
        case InFlight::Stage::prepare:
            if (r == nullptr) {
                entry.stage = InFlight::Stage::execute;
                note_prepared(link, entry);
            } else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
                PQclear(r);
            } else {
                PQclear(entry.prepare_error);
                entry.prepare_error = r;
            }
            return true;
        case InFlight::Stage::execute:
            if (r == nullptr) {
                entry.stage = InFlight::Stage::sync;
                return true;
            }
            if (is_terminating(r)) {
                PQclear(r);
                return false;  // the backend is going away: its other statements go too
            }
            if (entry.result == nullptr) {
                entry.result = r;
            } else {
                PQclear(r);
            }
            return true;
        case InFlight::Stage::sync: {
            const bool in_step = r != nullptr && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
            PQclear(r);
            if (!in_step) return false;  // out of step with the server: only closing is safe
            deliver(entry);
            link.may_take = true;
            link.in_flight.pop_front();
            return true;
        }
    }
    return false;
}

// The Parse of a statement text is answered: its name is used from now on, or forgotten.
void Multiplexer::note_prepared(Link &link, const InFlight &entry) {
    auto prepared = link.prepared.find(entry.prepared_key);
    if (prepared == link.prepared.end()) return;
    if (entry.prepare_error == nullptr) {
        prepared->second.ready = true;
    } else {
        link.prepared.erase(prepared);
    }
}

void Multiplexer::deliver(InFlight &entry) {
    PGresult *r = entry.result;
    if (entry.prepare_error != nullptr) {
        PQclear(r);  // PIPELINE_ABORTED: the Parse's error is the answer
        r = entry.prepare_error;
    }
    entry.result = entry.prepare_error = nullptr;
    if (r == nullptr) {
        entry.statement->finish(
            CONNPOOL_ERR_INTERNAL, nullptr,
            Error(CONNPOOL_ERR_INTERNAL, "the server sent no result for a multiplexed statement"));
        return;
    }
    if (entry.statement->finished()) {
        PQclear(r);  // its caller stopped waiting: the answer is discarded
        return;
    }
    auto result = std::make_unique<QueryResult>(r);
    const connpool_status status = result->status();
    Error error;
    if (status != CONNPOOL_OK) error = Error(status, result->error_message(), result->sqlstate());
    entry.statement->finish(status, std::move(result), std::move(error));
}

// In-flight statements past their deadline are answered with a timeout now; their results are
// discarded when they arrive. The connection's other statements are untouched.
void Multiplexer::expire(Link &link, TimePoint now) {
    for (InFlight &entry : link.in_flight) {
        if (entry.statement->deadline() <= now && !entry.statement->finished()) {
            entry.statement->finish(
                CONNPOOL_ERR_TIMEOUT, nullptr,
                Error(CONNPOOL_ERR_TIMEOUT,
                      "the multiplexed statement timed out while the server was running it (its "
                      "result will be discarded; the statement may still complete)"));
        }
    }
}

// Queued statements past their deadline finish now (and are dropped when taken).
void Multiplexer::sweep_queue(TimePoint now) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < count_; ++i) {
        MuxStatement &statement = *ring_[(head_ + i) % ring_.size()];
        if (statement.deadline() <= now && !statement.finished()) {
            statement.finish(CONNPOOL_ERR_TIMEOUT, nullptr,
                             Error(CONNPOOL_ERR_TIMEOUT,
                                   "the multiplexed statement timed out before it could be sent "
                                   "(it was not run); raise the timeout or "
                                   "multiplexing_connections"));
        }
    }
}

// The connection failed: only its in-flight statements fail; the pool replaces it.
void Multiplexer::lose(Link &link, const std::string &why) {
    const Error error(
        CONNPOOL_ERR_CONNECTION_BROKEN,
        "the multiplexed connection was lost (" + why + "); the statement may or may not have run");
    for (InFlight &entry : link.in_flight) {
        PQclear(entry.result);
        PQclear(entry.prepare_error);
        entry.result = entry.prepare_error = nullptr;
        entry.statement->finish(CONNPOOL_ERR_CONNECTION_BROKEN, nullptr, error);
    }
    link.in_flight.clear();
    let_go(link);
}

// Gives the connection back; poisoned, so the pool closes it (it is in pipeline mode and holds
// our prepared statements) and opens a replacement as its sizing asks.
void Multiplexer::let_go(Link &link) {
    for (InFlight &entry : link.in_flight) {
        PQclear(entry.result);
        PQclear(entry.prepare_error);
        entry.statement->finish(CONNPOOL_ERR_POOL_CLOSED, nullptr,
                                Error(CONNPOOL_ERR_POOL_CLOSED, "the pool was closed"));
    }
    link.in_flight.clear();
    link.prepared.clear();
    if (link.slot == nullptr) return;
    link.pg->poison();
    pool_->release(link.slot);
    link.slot = nullptr;
    link.pg = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Which pools multiplex: configured at creation, started with the first statement.

struct Registration {
    std::weak_ptr<Pool> pool;
    const Pool *key = nullptr;
    int64_t connections = 0;
    int64_t default_timeout_ms = 0;
    std::shared_ptr<Multiplexer> multiplexer;
};

std::mutex registrations_mutex;
std::vector<Registration> &registrations() {
    static auto *list = new std::vector<Registration>();  // never destroyed: used at exit
    return *list;
}

}  // namespace

void configure_multiplexing(const std::shared_ptr<Pool> &pool, int64_t connections,
                            int64_t default_timeout_ms) {
    if (connections <= 0) return;
    std::lock_guard lock(registrations_mutex);
    auto &list = registrations();
    // Pools freed without stop_multiplexing (never started) leave an expired entry behind.
    std::erase_if(list, [](const Registration &r) { return r.pool.expired() && !r.multiplexer; });
    list.push_back({pool, pool.get(), connections, default_timeout_ms, nullptr});
}

void stop_multiplexing(const Pool &pool) {
    std::shared_ptr<Multiplexer> multiplexer;
    {
        std::lock_guard lock(registrations_mutex);
        auto &list = registrations();
        auto it = std::find_if(list.begin(), list.end(),
                               [&](const Registration &r) { return r.key == &pool; });
        if (it == list.end()) return;
        multiplexer = std::move(it->multiplexer);
        list.erase(it);
    }
    if (multiplexer) multiplexer->stop();
}

std::string session_keyword(const char *sql) {
    static const char *const kSessionKeywords[] = {
        "ABORT", "BEGIN",    "CLOSE",     "COMMIT", "COPY",  "DEALLOCATE", "DECLARE", "DISCARD",
        "END",   "FETCH",    "LISTEN",    "LOAD",   "LOCK",  "MOVE",       "PREPARE", "RELEASE",
        "RESET", "ROLLBACK", "SAVEPOINT", "SET",    "START", "UNLISTEN",
    };
    const char *p = sql;
    for (;;) {  // skip blanks and comments before the first keyword
        while (*p != '\0' && std::isspace(static_cast<unsigned char>(*p)) != 0) ++p;
        if (p[0] == '-' && p[1] == '-') {
            while (*p != '\0' && *p != '\n') ++p;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = std::strstr(p + 2, "*/");
            p = end != nullptr ? end + 2 : p + std::strlen(p);
        } else {
            break;
        }
    }
    std::string word;
    while (std::isalpha(static_cast<unsigned char>(*p)) != 0 || *p == '_') {
        word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(*p))));
        ++p;
    }
    for (const char *keyword : kSessionKeywords) {
        if (word == keyword) return word;
    }
    return {};
}

connpool_status submit_multiplexed(const std::shared_ptr<Pool> &pool, const char *sql,
                                   int32_t n_params, const char *const *params, int64_t timeout_ms,
                                   bool wait_for_space, std::shared_ptr<MuxStatement> &out,
                                   Error &error) {
    if (pool->closed()) {
        error = Error(CONNPOOL_ERR_POOL_CLOSED, "the pool was closed");
        return error.status;
    }
    const std::string keyword = session_keyword(sql);
    if (!keyword.empty()) {
        error = Error(CONNPOOL_ERR_INVALID_ARGUMENT,
                      "\"" + keyword +
                          "\" opens a transaction or changes the session, which a multiplexed "
                          "statement cannot do (it runs in autocommit on a shared connection); "
                          "acquire a lease (connpool_pool_acquire) and run it there");
        return error.status;
    }
    std::shared_ptr<Multiplexer> multiplexer;
    int64_t default_timeout_ms = 0;
    {
        std::lock_guard lock(registrations_mutex);
        auto &list = registrations();
        auto it = std::find_if(list.begin(), list.end(),
                               [&](const Registration &r) { return r.key == pool.get(); });
        if (it == list.end()) {
            error = Error(CONNPOOL_ERR_INVALID_ARGUMENT,
                          "multiplexing is off for this pool: set the option "
                          "\"multiplexing_connections\" to the number of connections to share "
                          "(e.g. 4), or acquire a lease and use connpool_lease_exec");
            return error.status;
        }
        default_timeout_ms = it->default_timeout_ms;
        if (!it->multiplexer && !pool->closed()) {
            it->multiplexer = std::make_shared<Multiplexer>(pool, it->connections);
        }
        multiplexer = it->multiplexer;
    }
    if (!multiplexer || pool->closed()) {
        error = Error(CONNPOOL_ERR_POOL_CLOSED, "the pool was closed");
        return error.status;
    }
    const TimePoint deadline = deadline_after(timeout_ms < 0 ? default_timeout_ms : timeout_ms);
    auto statement = std::make_shared<MuxStatement>(sql, n_params, params, deadline);
    const connpool_status status = multiplexer->push(statement, wait_for_space, error);
    if (status == CONNPOOL_OK) out = std::move(statement);
    return status;
}

}  // namespace connpool
