// init_sql, credential rotation (connpool_pool_set_conninfo) and direct connections
// (connpool_connect), against the real server.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

// The rotation tests log in as a role of their own (tests run in parallel), with two
// passwords (over TCP: scram-sha-256).
constexpr const char *kPasswordA = "rotation-pw-A-7f3e";
constexpr const char *kPasswordB = "rotation-pw-B-91cd";

// "host=127.0.0.1 port=N" of the server under test (from the fixture's TCP conninfo).
std::string tcp_address() {
    std::istringstream words(fixture_file("conninfo_tcp"));
    std::string word, address;
    while (words >> word) {
        if (word.rfind("host=", 0) == 0 || word.rfind("port=", 0) == 0) address += word + " ";
    }
    return address;
}

// Lower case: CREATE ROLE folds the unquoted name, the conninfo's user= does not.
std::string role_for(const std::string &app) {
    std::string role = app + "_role";
    for (char &c : role) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return role;
}

std::string tcp_conninfo(const std::string &app, const char *password) {
    return tcp_address() + "dbname=postgres user=" + role_for(app) + " password=" + password +
           " application_name=" + app;
}

int thread_count() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    }
    return -1;
}

// A TCP port that accepts connections (the kernel's backlog does) but never answers.
class SilentListener {
  public:
    SilentListener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr *>(&addr), len), 0);
        EXPECT_EQ(::listen(fd_, 16), 0);
        EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr *>(&addr), &len), 0);
        port_ = ntohs(addr.sin_port);
    }
    ~SilentListener() { ::close(fd_); }
    int port() const { return port_; }

  private:
    int fd_ = -1;
    int port_ = 0;
};

// Every log message of the process while it lives.
class LogCapture {
  public:
    LogCapture() {
        EXPECT_EQ(
            connpool_log_set_callback(&LogCapture::receive, this, CONNPOOL_LOG_TRACE, nullptr),
            CONNPOOL_OK);
    }
    ~LogCapture() { stop(); }
    void stop() {
        if (stopped_) return;
        stopped_ = true;
        EXPECT_EQ(connpool_log_set_callback(nullptr, nullptr, CONNPOOL_LOG_TRACE, nullptr),
                  CONNPOOL_OK);
    }
    std::vector<std::string> messages() {
        std::lock_guard<std::mutex> lock(mutex_);
        return messages_;
    }

  private:
    static void receive(void *self, int32_t, const char *, const char *message) {
        auto *capture = static_cast<LogCapture *>(self);
        std::lock_guard<std::mutex> lock(capture->mutex_);
        capture->messages_.emplace_back(message);
    }
    std::mutex mutex_;
    std::vector<std::string> messages_;
    bool stopped_ = false;
};

connpool_options *options_of(std::initializer_list<Option> options) {
    connpool_options *opts = nullptr;
    EXPECT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
    for (const auto &[k, v] : options) {
        EXPECT_EQ(connpool_options_set(opts, k, v, nullptr), CONNPOOL_OK) << k;
    }
    return opts;
}

class RunTimePgTest : public RealPoolTest {
  protected:
    std::string backend_pid(connpool_lease *lease) {
        return scalar(lease, "SELECT pg_backend_pid()::text");
    }
    void release(connpool_lease *lease) {
        Error error;
        EXPECT_EQ(connpool_lease_release(lease, error.out()), CONNPOOL_OK) << error.message();
    }
    // connpool_connect with `options`; the status, the lease in `out` on success.
    connpool_status connect(connpool_lease *&out, const std::string &conninfo,
                            std::initializer_list<Option> options, Error &error) {
        connpool_options *opts = options.size() > 0 ? options_of(options) : nullptr;
        out = nullptr;
        const connpool_status status = connpool_connect(&out, conninfo.c_str(), opts, error.out());
        connpool_options_free(opts);
        return status;
    }
};

// ----- init_sql ---------------------------------------------------------------------------------

TEST_F(RunTimePgTest, InitSqlIsSessionStateThatSurvivesLeasesAndTheResetQuery) {
    make({{"max_size", "1"},
          {"reset_query", "DISCARD ALL"},
          {"init_sql", "SET search_path TO cp_init_schema, public; SET lock_timeout = '4321ms'"}});
    std::string first_pid;
    for (int i = 0; i < 20; ++i) {
        connpool_lease *lease = acquire();
        ASSERT_NE(lease, nullptr);
        EXPECT_EQ(scalar(lease, "SHOW search_path"), "cp_init_schema, public") << "lease " << i;
        EXPECT_EQ(scalar(lease, "SHOW lock_timeout"), "4321ms") << "lease " << i;
        // The lease changes the session; DISCARD ALL undoes that and init_sql's SETs too, so
        // the pool runs init_sql again after it.
        scalar(lease, "SELECT set_config('search_path', 'pg_catalog', false)");
        scalar(lease, "SELECT set_config('lock_timeout', '1s', false)");
        if (i == 0) first_pid = backend_pid(lease);
        EXPECT_EQ(backend_pid(lease), first_pid) << "the same connection, reset and reused";
        release(lease);
    }
    EXPECT_EQ(stats().created, 1);
}

TEST_F(RunTimePgTest, InitSqlStaysWithoutResetQueryAndAfterARolledBackTransaction) {
    make({{"max_size", "1"}, {"init_sql", "SET application_name TO 'cp_init_app_name'"}});
    for (int i = 0; i < 10; ++i) {
        connpool_lease *lease = acquire();
        ASSERT_NE(lease, nullptr);
        EXPECT_EQ(scalar(lease, "SELECT current_setting('application_name')"), "cp_init_app_name");
        // A transaction left open is rolled back by the pool's reset path: a SET inside it
        // goes, init_sql's (outside any transaction) stays.
        scalar(lease, "BEGIN");
        scalar(lease, "SELECT set_config('application_name', 'changed', true)");
        release(lease);
    }
    Admin admin;
    // The last release's session reset (the set_config call marks the lease) runs on a pool
    // worker: init_sql's name is back once it is done.
    EXPECT_EQ(admin.backends_settled("cp_init_app_name", 1), 1);
    EXPECT_EQ(stats().created, 1);
}

TEST_F(RunTimePgTest, InitSqlSessionAuthorizationIsKeptByTheSessionGuard) {
    Admin admin;
    admin.command("DROP ROLE IF EXISTS cp_init_auth_role");
    admin.command("CREATE ROLE cp_init_auth_role");
    make({{"max_size", "1"}, {"init_sql", "SET SESSION AUTHORIZATION cp_init_auth_role"}});
    std::string first_pid;
    for (int i = 0; i < 5; ++i) {
        connpool_lease *lease = acquire();
        ASSERT_NE(lease, nullptr);
        EXPECT_EQ(scalar(lease, "SELECT session_user::text"), "cp_init_auth_role");
        if (i == 0) first_pid = backend_pid(lease);
        // Not discarded by the guard: init_sql's identity is the connection's own.
        EXPECT_EQ(backend_pid(lease), first_pid);
        release(lease);
    }
    connpool_pool_free(pool_);
    pool_ = nullptr;
    admin.backends_settled(app_, 0);
    admin.command("DROP ROLE cp_init_auth_role");
}

TEST_F(RunTimePgTest, InitSqlFailureIsAConnectFailureWithItsSqlstate) {
    struct Case {
        const char *sql;
        const char *sqlstate;
    };
    for (const Case c :
         {Case{"SELEC 1", "42601"}, Case{"SELECT * FROM cp_no_such_table", "42P01"}}) {
        make({{"breaker_threshold", "0"}, {"init_sql", c.sql}});
        connpool_lease *lease = nullptr;
        Error error;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 600, error.out()),
                  CONNPOOL_ERR_CONNECT_FAILED);
        EXPECT_EQ(lease, nullptr);
        EXPECT_NE(error.message().find("init_sql failed"), std::string::npos) << error.message();
        EXPECT_NE(error.message().find(std::string("SQLSTATE ") + c.sqlstate), std::string::npos)
            << error.message();
        EXPECT_EQ(error.sqlstate(), c.sqlstate);
        EXPECT_GE(stats().connect_errors, 1);
        EXPECT_EQ(stats().total, 0) << "no connection entered the pool";
        EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
        pool_ = nullptr;
    }
}

TEST_F(RunTimePgTest, InitSqlLeavingATransactionOpenIsRefused) {
    make({{"init_sql", "BEGIN"}});
    connpool_lease *lease = nullptr;
    Error error;
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 500, error.out()), CONNPOOL_ERR_CONNECT_FAILED);
    EXPECT_NE(error.message().find("init_sql left a transaction open"), std::string::npos)
        << error.message();
}

TEST_F(RunTimePgTest, SlowInitSqlIsBoundedByConnectTimeout) {
    // (The server notices the closed client within 50 ms instead of sleeping on: the test's
    // teardown counts backends.)
    make({{"connect_timeout", "300"},
          {"init_sql", "SET client_connection_check_interval = 50; SELECT pg_sleep(5)"}});
    connpool_lease *lease = nullptr;
    Error error;
    const auto start = Clock::now();
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 700, error.out()), CONNPOOL_ERR_CONNECT_FAILED);
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500));
    EXPECT_NE(error.message().find("init_sql did not finish within connect_timeout"),
              std::string::npos)
        << error.message();
}

// ----- credential rotation -------------------------------------------------------------------

class RotationTest : public RunTimePgTest {
  protected:
    void SetUp() override {
        RunTimePgTest::SetUp();
        role_ = role_for(app_);
        admin_.command("DROP ROLE IF EXISTS " + role_);
        admin_.command("CREATE ROLE " + role_ + " LOGIN PASSWORD '" + kPasswordA + "'");
    }
    void TearDown() override {
        RunTimePgTest::TearDown();
        admin_.command("DROP ROLE IF EXISTS " + role_);
    }
    Admin admin_;
    std::string role_;
};

TEST_F(RotationTest, NewConnectionsUseTheNewConninfo) {
    LogCapture logs;
    make({{"max_size", "1"}, {"breaker_threshold", "0"}}, tcp_conninfo(app_, kPasswordA));
    connpool_lease *lease = acquire();
    ASSERT_NE(lease, nullptr);
    const std::string old_pid = backend_pid(lease);
    release(lease);

    admin_.command("ALTER ROLE " + role_ + " PASSWORD '" + kPasswordB + "'");
    // The open connection is unaffected by the server-side change...
    lease = acquire();
    EXPECT_EQ(backend_pid(lease), old_pid);
    release(lease);
    // ...but a new one with the old password fails: 28P01.
    admin_.terminate(old_pid);
    Error error;
    EXPECT_EQ(connpool_pool_acquire(&lease, pool_, 300, error.out()), CONNPOOL_ERR_CONNECT_FAILED);
    EXPECT_NE(error.message().find("password authentication failed"), std::string::npos)
        << error.message();

    // A conninfo libpq cannot parse is refused; the pool keeps the one in force.
    const std::string bad = std::string("host=127.0.0.1 password=") + kPasswordB + " nonsense";
    EXPECT_EQ(connpool_pool_set_conninfo(pool_, bad.c_str(), error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("connpool_pool_set_conninfo"), std::string::npos);
    EXPECT_EQ(error.message().find(kPasswordB), std::string::npos) << error.message();

    ASSERT_EQ(
        connpool_pool_set_conninfo(pool_, tcp_conninfo(app_, kPasswordB).c_str(), error.out()),
        CONNPOOL_OK)
        << error.message();
    lease = acquire(5000);
    ASSERT_NE(lease, nullptr);
    EXPECT_EQ(scalar(lease, "SELECT current_user::text"), role_);
    const std::string new_pid = backend_pid(lease);
    EXPECT_NE(new_pid, old_pid);
    release(lease);

    // Rotation again: the open connection (password B) stays until it retires.
    admin_.command("ALTER ROLE " + role_ + " PASSWORD '" + kPasswordA + "'");
    ASSERT_EQ(connpool_pool_set_conninfo(pool_, tcp_conninfo(app_, kPasswordA).c_str(), nullptr),
              CONNPOOL_OK);
    lease = acquire();
    EXPECT_EQ(backend_pid(lease), new_pid);
    release(lease);

    char *json = nullptr;
    ASSERT_EQ(connpool_pool_stats_json(&json, pool_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(std::string(json).find(kPasswordA), std::string::npos);
    EXPECT_EQ(std::string(json).find(kPasswordB), std::string::npos);
    connpool_string_free(json);
    EXPECT_EQ(connpool_pool_free(pool_), CONNPOOL_OK);
    pool_ = nullptr;
    logs.stop();
    bool saw_change = false;
    for (const std::string &message : logs.messages()) {
        EXPECT_EQ(message.find(kPasswordA), std::string::npos) << message;
        EXPECT_EQ(message.find(kPasswordB), std::string::npos) << message;
        saw_change = saw_change || message.find("conninfo changed") != std::string::npos;
    }
    EXPECT_TRUE(saw_change);
}

TEST_F(RotationTest, OldConnectionsRetireByMaxLifetime) {
    make({{"min_size", "1"}, {"max_size", "1"}, {"max_lifetime", "400"}},
         tcp_conninfo(app_, kPasswordA));
    ASSERT_EQ(connpool_pool_wait_ready(pool_, 5000, nullptr), CONNPOOL_OK);
    admin_.command("ALTER ROLE " + role_ + " PASSWORD '" + kPasswordB + "'");
    ASSERT_EQ(connpool_pool_set_conninfo(pool_, tcp_conninfo(app_, kPasswordB).c_str(), nullptr),
              CONNPOOL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    // The first connection expired; its replacement logs in with password B.
    connpool_lease *lease = acquire(5000);
    ASSERT_NE(lease, nullptr);
    EXPECT_EQ(scalar(lease, "SELECT current_user::text"), role_);
    release(lease);
    EXPECT_GE(stats().closed_lifetime, 1);
    EXPECT_EQ(stats().connect_errors, 0);
}

TEST_F(RunTimePgTest, SetConninfoWhileWorkersConnect) {
    // Connections expire within ~30 ms, so the workers keep connecting while the conninfo is
    // swapped under them (the TSan build checks the swap).
    make({{"max_size", "4"}, {"max_lifetime", "30"}});
    const std::string a = conninfo_for(app_);
    const std::string b = a + " connect_timeout=9";
    std::atomic<bool> done{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> users;
    for (int t = 0; t < 4; ++t) {
        users.emplace_back([&] {
            for (int i = 0; i < 40; ++i) {
                connpool_lease *lease = nullptr;
                if (connpool_pool_acquire(&lease, pool_, 5000, nullptr) != CONNPOOL_OK) {
                    ++failures;
                    continue;
                }
                connpool_result *r = nullptr;
                if (connpool_lease_exec(&r, lease, "SELECT 1", 0, nullptr, nullptr) !=
                    CONNPOOL_OK) {
                    ++failures;
                }
                connpool_result_free(r);
                connpool_lease_release(lease, nullptr);
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        });
    }
    std::thread rotator([&] {
        for (int i = 0; !done.load(); ++i) {
            EXPECT_EQ(connpool_pool_set_conninfo(pool_, (i % 2 == 0 ? b : a).c_str(), nullptr),
                      CONNPOOL_OK);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    for (std::thread &t : users) t.join();
    done = true;
    rotator.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GT(stats().created, 4) << "connections were replaced while the conninfo changed";
}

TEST_F(RunTimePgTest, SetConninfoRefusesBadArguments) {
    make({});
    Error error;
    EXPECT_EQ(connpool_pool_set_conninfo(pool_, nullptr, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_pool_set_conninfo(nullptr, "host=x", error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    const std::string huge(70000, 'x');
    EXPECT_EQ(connpool_pool_set_conninfo(pool_, huge.c_str(), error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error.message().find("longer than"), std::string::npos) << error.message();
    ASSERT_EQ(connpool_pool_close(pool_, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_set_conninfo(pool_, conninfo_for(app_).c_str(), error.out()),
              CONNPOOL_ERR_POOL_CLOSED);
}

TEST_F(RunTimePgTest, RegisteredPoolIsFoundByItsNewConninfo) {
    const std::string name = "cp_rotated_registered";
    const std::string before = conninfo_for(app_);
    const std::string after = before + " connect_timeout=7";
    connpool_pool *registered = nullptr;
    ASSERT_EQ(connpool_registry_get_or_create(&registered, name.c_str(), before.c_str(), nullptr,
                                              nullptr),
              CONNPOOL_OK);
    connpool_pool *other = nullptr;
    Error error;
    EXPECT_EQ(
        connpool_registry_get_or_create(&other, name.c_str(), after.c_str(), nullptr, error.out()),
        CONNPOOL_ERR_CONFLICT);
    ASSERT_EQ(connpool_pool_set_conninfo(registered, after.c_str(), nullptr), CONNPOOL_OK);
    ASSERT_EQ(
        connpool_registry_get_or_create(&other, name.c_str(), after.c_str(), nullptr, error.out()),
        CONNPOOL_OK)
        << error.message();
    EXPECT_EQ(connpool_pool_free(other), CONNPOOL_OK);
    EXPECT_EQ(connpool_registry_close(name.c_str(), nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_free(registered), CONNPOOL_OK);
}

// ----- direct connections ----------------------------------------------------------------------

TEST_F(RunTimePgTest, DirectConnectionIsALeaseClosedOnRelease) {
    connpool_lease *lease = nullptr;
    Error error;
    ASSERT_EQ(
        connect(lease, conninfo_for(app_), {{"init_sql", "SET search_path TO cp_direct"}}, error),
        CONNPOOL_OK)
        << error.message();
    EXPECT_EQ(scalar(lease, "SELECT $1::int + 1", {"41"}), "42");
    EXPECT_EQ(scalar(lease, "SHOW search_path"), "cp_direct");
    uint64_t id = 0;
    EXPECT_EQ(connpool_lease_connection_id(&id, lease, nullptr), CONNPOOL_OK);
    EXPECT_NE(id, 0U);
    void *raw = nullptr;
    EXPECT_EQ(connpool_lease_pgconn(&raw, lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(PQstatus(static_cast<PGconn *>(raw)), CONNECTION_OK);
    // The asynchronous statement API and cancel work as on a pooled lease.
    ASSERT_EQ(connpool_lease_send(lease, "SELECT pg_sleep(10)", 0, nullptr, nullptr), CONNPOOL_OK);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(connpool_lease_cancel(lease, error.out()), CONNPOOL_OK) << error.message();
    connpool_result *result = nullptr;
    connpool_status collected = CONNPOOL_ERR_IN_PROGRESS;
    for (int i = 0; i < 500 && collected == CONNPOOL_ERR_IN_PROGRESS; ++i) {
        collected = connpool_lease_collect(&result, lease, nullptr);
        if (collected == CONNPOOL_ERR_IN_PROGRESS) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    EXPECT_EQ(collected, CONNPOOL_ERR_QUERY_FAILED);
    EXPECT_STREQ(connpool_result_sqlstate(result), "57014");
    connpool_result_free(result);

    // Not a registered pool.
    char *names = nullptr;
    ASSERT_EQ(connpool_registry_names(&names, nullptr), CONNPOOL_OK);
    EXPECT_EQ(std::string(names).find("direct"), std::string::npos) << names;
    connpool_string_free(names);

    Admin admin;
    EXPECT_EQ(admin.backends(app_), 1);
    release(lease);
    EXPECT_EQ(admin.backends_settled(app_, 0), 0) << "the backend is gone after release";
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
}

TEST_F(RunTimePgTest, DirectConnectionWithAWrongPasswordFailsAt28P01) {
    const std::string conninfo = tcp_address() +
                                 "dbname=postgres user=postgres password=cp-wrong-secret-4411 "
                                 "application_name=" +
                                 app_;
    connpool_lease *lease = nullptr;
    Error error;
    const auto start = Clock::now();
    EXPECT_EQ(connect(lease, conninfo, {}, error), CONNPOOL_ERR_CONNECT_FAILED);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(3)) << "one attempt, no retries";
    EXPECT_EQ(lease, nullptr);
    EXPECT_EQ(error.sqlstate(), "28P01") << error.message();
    EXPECT_NE(error.message().find("connpool_connect"), std::string::npos);
    EXPECT_EQ(error.message().find("cp-wrong-secret-4411"), std::string::npos) << error.message();
}

TEST_F(RunTimePgTest, DirectConnectionInitSqlFailureCarriesItsSqlstate) {
    connpool_lease *lease = nullptr;
    Error error;
    EXPECT_EQ(connect(lease, conninfo_for(app_), {{"init_sql", "SELEC 1"}}, error),
              CONNPOOL_ERR_CONNECT_FAILED);
    EXPECT_EQ(error.sqlstate(), "42601") << error.message();
    EXPECT_NE(error.message().find("init_sql failed"), std::string::npos) << error.message();
    Admin admin;
    EXPECT_EQ(admin.backends_settled(app_, 0), 0);
}

TEST_F(RunTimePgTest, DirectConnectionTimesOutAtConnectTimeout) {
    SilentListener silent;
    const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(silent.port()) +
                                 " dbname=postgres user=postgres sslmode=disable";
    connpool_lease *lease = nullptr;
    Error error;
    const auto start = Clock::now();
    EXPECT_EQ(connect(lease, conninfo, {{"connect_timeout", "300"}}, error), CONNPOOL_ERR_TIMEOUT);
    const auto took = Clock::now() - start;
    EXPECT_GE(took, std::chrono::milliseconds(250));
    EXPECT_LT(took, std::chrono::milliseconds(1500));
    EXPECT_NE(error.message().find("connect_timeout"), std::string::npos) << error.message();
}

TEST_F(RunTimePgTest, DirectConnectionRefusesBadArguments) {
    connpool_lease *lease = nullptr;
    Error error;
    EXPECT_EQ(connpool_connect(nullptr, "host=x", nullptr, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_connect(&lease, nullptr, nullptr, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_connect(&lease, "password=cp-secret-77 nonsense", nullptr, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(error.message().find("cp-secret-77"), std::string::npos) << error.message();
    EXPECT_EQ(lease, nullptr);
}

TEST_F(RunTimePgTest, DirectConnectionsLeakNoThreadsOrDescriptors) {
    // Warm up once: the library's process-wide threads (log delivery...) start on first use.
    connpool_lease *lease = nullptr;
    Error error;
    ASSERT_EQ(connect(lease, conninfo_for(app_), {}, error), CONNPOOL_OK) << error.message();
    release(lease);
    const int fds = open_fds();
    const int threads = thread_count();
    for (int i = 0; i < 50; ++i) {
        ASSERT_EQ(connect(lease, conninfo_for(app_), {}, error), CONNPOOL_OK) << error.message();
        EXPECT_EQ(scalar(lease, "SELECT 1"), "1");
        release(lease);
    }
    // A thread that has been joined may still be listed for a moment under load: settle first.
    for (int i = 0; i < 100 && (open_fds() != fds || thread_count() != threads); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(open_fds(), fds);
    EXPECT_EQ(thread_count(), threads);
    Admin admin;
    EXPECT_EQ(admin.backends_settled(app_, 0), 0);
}

}  // namespace
}  // namespace connpool::pgtest
