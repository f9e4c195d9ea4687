// The registry of named pools (connpool_registry_*) and the connection budget, through the C
// API against the real server. The registry is process-wide: every test closes every pool and
// turns the budget off when it ends.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "pg_support.hpp"

namespace connpool::pgtest {
namespace {

// ---- a small JSON reader for the statistics document (objects, strings, numbers, booleans) ----

struct Value {
    std::string text;  // a string, or a number/boolean as written
    std::shared_ptr<std::map<std::string, Value>> object;  // set for an object
    double number() const { return std::stod(text); }
    const Value &at(const std::string &key) const {
        static const Value missing;
        if (!object) return missing;
        auto found = object->find(key);
        return found == object->end() ? missing : found->second;
    }
};

class Reader {
  public:
    explicit Reader(const std::string &text) : s_(text) {}
    bool read(Value &out) {
        const bool ok = value(out);
        skip();
        return ok && i_ == s_.size();
    }

  private:
    void skip() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    bool take(char c) {
        skip();
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    bool string(std::string &out) {
        if (!take('"')) return false;
        while (i_ < s_.size() && s_[i_] != '"') {
            if (s_[i_] == '\\') ++i_;  // the names and numbers here need no more than that
            out += s_[i_++];
        }
        return take('"');
    }
    bool value(Value &out) {
        skip();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == '"') return string(out.text);
        if (s_[i_] == '{') {
            ++i_;
            out.object = std::make_shared<std::map<std::string, Value>>();
            if (take('}')) return true;
            do {
                std::string key;
                Value member;
                if (!string(key) || !take(':') || !value(member)) return false;
                if (!out.object->emplace(key, member).second) return false;  // no duplicates
            } while (take(','));
            return take('}');
        }
        const size_t start = i_;
        while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) ||
                                  s_[i_] == '-' || s_[i_] == '.' || s_[i_] == '+')) {
            ++i_;
        }
        out.text = s_.substr(start, i_ - start);
        return !out.text.empty();
    }

    const std::string &s_;
    size_t i_ = 0;
};

// ---- helpers ----------------------------------------------------------------------------------

struct Options {
    explicit Options(std::initializer_list<Option> options) {
        EXPECT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
        for (const auto &[k, v] : options)
            EXPECT_EQ(connpool_options_set(opts, k, v, nullptr), CONNPOOL_OK) << k;
    }
    ~Options() { connpool_options_free(opts); }
    connpool_options *opts = nullptr;
};

std::string take_string(char *s) {
    std::string out = s != nullptr ? s : "";
    connpool_string_free(s);
    return out;
}

class RegistryTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_FALSE(base_conninfo().empty())
            << "no server: run through ctest (fixture) or set CONNPOOL_TEST_CONNINFO";
        // application_name keeps 63 bytes: room for the tests' suffixes ("_a").
        app_ = std::string("cpr_") +
               std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())
                   .substr(0, 48);
        fds_at_start_ = open_fds();
    }
    void TearDown() override {
        for (connpool_pool *handle : handles_) EXPECT_EQ(connpool_pool_free(handle), CONNPOOL_OK);
        EXPECT_EQ(connpool_registry_close_all(nullptr), CONNPOOL_OK);
        EXPECT_EQ(connpool_registry_set_connection_budget(0, nullptr), CONNPOOL_OK);
        EXPECT_EQ(names(), "");
        {
            Admin admin;
            EXPECT_EQ(backends_like(admin, app_ + "%", 0), 0) << "backends left behind";
        }
        EXPECT_EQ(open_fds(), fds_at_start_) << "file descriptors leaked";
    }

    // Backends whose application_name is LIKE `pattern`, once settled at `expected`.
    static int backends_like(Admin &admin, const std::string &pattern, int expected = -1) {
        int n = -1;
        for (int i = 0; i < 500; ++i) {
            n = std::stoi(
                admin.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '" +
                             pattern + "'"));
            if (expected < 0 || n == expected) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return n;
    }

    // A handle freed at the end of the test.
    connpool_pool *get(const char *name, const std::string &conninfo,
                       const connpool_options *opts = nullptr) {
        connpool_pool *pool = nullptr;
        Error error;
        EXPECT_EQ(connpool_registry_get_or_create(&pool, name, conninfo.c_str(), opts, error.out()),
                  CONNPOOL_OK)
            << error.message();
        if (pool != nullptr) handles_.push_back(pool);
        return pool;
    }
    // The status and message of a get_or_create expected to fail.
    static std::pair<connpool_status, std::string> refused(const char *name,
                                                           const std::string &conninfo,
                                                           const connpool_options *opts = nullptr) {
        connpool_pool *pool = nullptr;
        Error error;
        const connpool_status status =
            connpool_registry_get_or_create(&pool, name, conninfo.c_str(), opts, error.out());
        EXPECT_EQ(pool, nullptr);
        if (pool != nullptr) connpool_pool_free(pool);
        return {status, status == CONNPOOL_OK ? "" : error.message()};
    }
    connpool_pool *lookup(const char *name) {
        connpool_pool *pool = nullptr;
        Error error;
        EXPECT_EQ(connpool_registry_lookup(&pool, name, error.out()), CONNPOOL_OK)
            << error.message();
        if (pool != nullptr) handles_.push_back(pool);
        return pool;
    }
    static std::string names() {
        char *out = nullptr;
        EXPECT_EQ(connpool_registry_names(&out, nullptr), CONNPOOL_OK);
        return take_string(out);
    }
    static connpool_stats stats(connpool_pool *pool) {
        connpool_stats s{};
        s.struct_size = sizeof s;
        EXPECT_EQ(connpool_pool_stats(&s, pool, nullptr), CONNPOOL_OK);
        return s;
    }
    static connpool_lease *acquire(connpool_pool *pool, int64_t timeout_ms = 10000) {
        connpool_lease *lease = nullptr;
        Error error;
        EXPECT_EQ(connpool_pool_acquire(&lease, pool, timeout_ms, error.out()), CONNPOOL_OK)
            << error.message();
        return lease;
    }
    static std::string scalar(connpool_lease *lease, const char *sql) {
        connpool_result *r = nullptr;
        Error error;
        EXPECT_EQ(connpool_lease_exec(&r, lease, sql, 0, nullptr, error.out()), CONNPOOL_OK)
            << sql << ": " << error.message();
        std::string value = connpool_result_row_count(r) > 0 ? connpool_result_value(r, 0, 0) : "";
        connpool_result_free(r);
        return value;
    }
    std::string conninfo(const std::string &suffix = "") const {
        return conninfo_for(app_ + suffix);
    }

    std::string app_;
    std::vector<connpool_pool *> handles_;
    int fds_at_start_ = 0;
};

// ---- get or create ---------------------------------------------------------------------------

TEST_F(RegistryTest, SameNameConninfoAndOptionsGiveOnePool) {
    Options opts({{"max_size", "3"}});
    connpool_pool *first = get("orders", conninfo(), opts.opts);
    // The same keys in another order, and options equal value by value, are the same request.
    const std::string reordered = "application_name=" + app_ + " " + base_conninfo();
    Options same({{"max_size", "3"}, {"min_size", "0"}});
    connpool_pool *second = get("orders", reordered, same.opts);
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
    EXPECT_NE(first, second) << "every call publishes its own handle";
    connpool_lease *lease = acquire(second);
    EXPECT_EQ(scalar(lease, "SELECT 1"), "1");
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats(first).acquired, 1) << "one pool, one set of counters";
    EXPECT_EQ(stats(first).max_size, 3);
    EXPECT_EQ(names(), "orders\n");
}

TEST_F(RegistryTest, TheRegistryNameIsThePoolsName) {
    Options opts({{"name", "something-else"}});
    connpool_pool *pool = get("billing.v2", conninfo(), opts.opts);
    char *json = nullptr;
    ASSERT_EQ(connpool_pool_stats_json(&json, pool, nullptr), CONNPOOL_OK);
    EXPECT_NE(take_string(json).find("\"name\": \"billing.v2\""), std::string::npos);
    // The name option does not count as a difference: it is always the registry name.
    get("billing.v2", conninfo());
}

TEST_F(RegistryTest, ADifferentConninfoIsAConflictNamingTheKey) {
    get("app", conninfo());
    struct Case {
        std::string conninfo;
        std::string names;
    };
    const std::vector<Case> cases = {
        {conninfo("_other"), "key \"application_name\" differs"},                // another value
        {conninfo() + " connect_timeout=7", "key \"connect_timeout\" differs"},  // an added key
        {base_conninfo(), "key \"application_name\" differs"},                   // a missing key
    };
    for (const Case &c : cases) {
        const auto [status, message] = refused("app", c.conninfo);
        EXPECT_EQ(status, CONNPOOL_ERR_CONFLICT) << c.conninfo;
        EXPECT_NE(message.find("registered pool \"app\" exists with another conninfo: " + c.names),
                  std::string::npos)
            << message;
    }
    const auto [status, message] = refused("app", "host=/nowhere port='unterminated");
    EXPECT_EQ(status, CONNPOOL_ERR_INVALID_ARGUMENT) << message;
}

TEST_F(RegistryTest, APasswordDifferenceNeverShowsAPassword) {
    get("secret", conninfo() + " password=FirstSecret123");
    const auto [status, message] = refused("secret", conninfo() + " password=OtherSecret456");
    EXPECT_EQ(status, CONNPOOL_ERR_CONFLICT);
    EXPECT_NE(message.find("another conninfo: password differs"), std::string::npos) << message;
    EXPECT_EQ(message.find("Secret"), std::string::npos) << message;
    const auto [no_password, message2] = refused("secret", conninfo());
    EXPECT_EQ(no_password, CONNPOOL_ERR_CONFLICT);
    EXPECT_NE(message2.find("password differs"), std::string::npos) << message2;
    EXPECT_EQ(message2.find("Secret"), std::string::npos) << message2;
}

TEST_F(RegistryTest, DifferentOptionsAreAConflictNamingTheOptionAndBothValues) {
    Options four({{"max_size", "4"}, {"reset_query", "DISCARD ALL"}});
    get("jobs", conninfo(), four.opts);
    Options eight({{"max_size", "8"}, {"reset_query", "DISCARD ALL"}});
    auto [status, message] = refused("jobs", conninfo(), eight.opts);
    EXPECT_EQ(status, CONNPOOL_ERR_CONFLICT);
    EXPECT_NE(message.find("other options: option \"max_size\" is \"4\" there, \"8\" here"),
              std::string::npos)
        << message;
    // NULL options are the defaults: different from max_size 4.
    std::tie(status, message) = refused("jobs", conninfo());
    EXPECT_EQ(status, CONNPOOL_ERR_CONFLICT);
    EXPECT_NE(message.find("option \"max_size\""), std::string::npos) << message;
    Options other_reset({{"max_size", "4"}});
    std::tie(status, message) = refused("jobs", conninfo(), other_reset.opts);
    EXPECT_NE(message.find("option \"reset_query\" is \"DISCARD ALL\" there, \"\" here"),
              std::string::npos)
        << message;
}

TEST_F(RegistryTest, NamesFollowTheRule) {
    const std::string longest(63, 'n');
    get(longest.c_str(), conninfo());
    get("A-z_0.9", conninfo());
    for (const std::string &bad :
         {std::string(), std::string(64, 'n'), std::string("a b"), std::string("a/b"),
          std::string("caf\xc3\xa9"), std::string("x\ny")}) {
        const int64_t misuse = connpool_misuse_count();
        const auto [status, message] = refused(bad.c_str(), conninfo());
        EXPECT_EQ(status, CONNPOOL_ERR_INVALID_ARGUMENT) << bad;
        EXPECT_NE(message.find("use 1 to 63 characters from A-Z, a-z, 0-9"), std::string::npos)
            << message;
        EXPECT_EQ(connpool_misuse_count(), misuse + 1);
    }
    connpool_pool *pool = nullptr;
    EXPECT_EQ(connpool_registry_get_or_create(&pool, nullptr, "", nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_registry_get_or_create(&pool, "x", nullptr, nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_registry_get_or_create(nullptr, "x", "", nullptr, nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(names(), "A-z_0.9\n" + longest + "\n");
}

TEST_F(RegistryTest, AStaleOptionsHandleIsRefused) {
    connpool_options *opts = nullptr;
    ASSERT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
    connpool_options_free(opts);
    const auto [status, message] = refused("stale", conninfo(), opts);
    EXPECT_EQ(status, CONNPOOL_ERR_INVALID_HANDLE) << message;
    EXPECT_EQ(names(), "");
}

// ---- lookup, names, free and close --------------------------------------------------------------

TEST_F(RegistryTest, LookupFindsTheRegisteredPoolOrAnswersNotFound) {
    connpool_pool *pool = nullptr;
    Error error;
    const int64_t misuse = connpool_misuse_count();
    EXPECT_EQ(connpool_registry_lookup(&pool, "nobody", error.out()), CONNPOOL_ERR_NOT_FOUND);
    EXPECT_EQ(pool, nullptr);
    EXPECT_NE(error.message().find("no registered pool is named \"nobody\""), std::string::npos)
        << error.message();
    EXPECT_EQ(connpool_misuse_count(), misuse) << "NOT_FOUND is an answer, not a misuse";
    EXPECT_EQ(connpool_registry_lookup(&pool, "a b", nullptr), CONNPOOL_ERR_NOT_FOUND);
    EXPECT_EQ(connpool_registry_lookup(&pool, nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);

    connpool_pool *created = get("found", conninfo());
    connpool_pool *looked_up = lookup("found");
    EXPECT_NE(created, looked_up);
    connpool_lease *lease = acquire(looked_up);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats(created).acquired, 1);
}

TEST_F(RegistryTest, NamesAreSortedOnePerLine) {
    EXPECT_EQ(names(), "");
    get("zeta", conninfo());
    get("alpha", conninfo());
    get("Mid", conninfo());
    EXPECT_EQ(names(), "Mid\nalpha\nzeta\n");
    EXPECT_EQ(connpool_registry_names(nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
}

TEST_F(RegistryTest, FreeingAHandleLeavesThePoolOpenAndRegistered) {
    connpool_pool *first = nullptr;
    ASSERT_EQ(connpool_registry_get_or_create(&first, "kept", conninfo().c_str(), nullptr, nullptr),
              CONNPOOL_OK);
    connpool_lease *lease = acquire(first);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_free(first), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_acquire(&lease, first, 100, nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    connpool_pool *again = lookup("kept");
    lease = acquire(again);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats(again).acquired, 2);
    EXPECT_EQ(stats(again).created, 1) << "the connection stayed open";
    Admin admin;
    EXPECT_EQ(backends_like(admin, app_), 1);
}

TEST_F(RegistryTest, ClosingAnyHandleClosesAndUnregistersThePool) {
    connpool_pool *first = get("closing", conninfo());
    connpool_pool *second = lookup("closing");
    connpool_lease *lease = acquire(second);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_close(first, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_acquire(&lease, second, 100, nullptr), CONNPOOL_ERR_POOL_CLOSED);
    EXPECT_EQ(stats(second).acquired, 1) << "a closed pool's handle still answers stats";
    connpool_pool *gone = nullptr;
    EXPECT_EQ(connpool_registry_lookup(&gone, "closing", nullptr), CONNPOOL_ERR_NOT_FOUND);
    EXPECT_EQ(names(), "");
    Admin admin;
    EXPECT_EQ(backends_like(admin, app_, 0), 0);
    // The name is free at once, for any conninfo.
    connpool_pool *fresh = get("closing", conninfo("_new"));
    lease = acquire(fresh);
    EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    EXPECT_EQ(stats(fresh).acquired, 1);
    EXPECT_EQ(connpool_pool_acquire(&lease, first, 100, nullptr), CONNPOOL_ERR_POOL_CLOSED);
}

TEST_F(RegistryTest, RegistryCloseAndCloseAllLetLeasesFinish) {
    connpool_pool *one = get("one", conninfo("_1"));
    connpool_pool *two = get("two", conninfo("_2"));
    connpool_pool *three = get("three", conninfo("_3"));
    connpool_lease *lease_one = acquire(one);
    connpool_lease *lease_two = acquire(two);
    connpool_lease *lease_three = acquire(three);
    Error error;
    EXPECT_EQ(connpool_registry_close("one", error.out()), CONNPOOL_OK) << error.message();
    EXPECT_EQ(connpool_registry_close("one", error.out()), CONNPOOL_ERR_NOT_FOUND);
    EXPECT_EQ(connpool_registry_close(nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(names(), "three\ntwo\n");
    EXPECT_EQ(connpool_registry_close_all(error.out()), CONNPOOL_OK) << error.message();
    EXPECT_EQ(names(), "");
    // Leases out stay usable; their connections close when released.
    EXPECT_EQ(scalar(lease_one, "SELECT 'still here'"), "still here");
    EXPECT_EQ(scalar(lease_two, "SELECT 2"), "2");
    connpool_lease *more = nullptr;
    EXPECT_EQ(connpool_pool_acquire(&more, three, 100, nullptr), CONNPOOL_ERR_POOL_CLOSED);
    for (connpool_lease *lease : {lease_one, lease_two, lease_three})
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    Admin admin;
    EXPECT_EQ(backends_like(admin, app_ + "%", 0), 0);
    for (connpool_pool *pool : {one, two, three}) EXPECT_EQ(stats(pool).total, 0);
}

// Racing creators of one name: exactly one pool, every handle reaches it.
TEST_F(RegistryTest, ConcurrentGetOrCreateMakesOnePool) {
    constexpr int kThreads = 16;
    Options opts({{"max_size", "2"}});
    std::vector<connpool_pool *> got(kThreads, nullptr);
    std::vector<connpool_status> statuses(kThreads, CONNPOOL_ERR_INTERNAL);
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    const std::string info = conninfo();
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            while (!go.load()) std::this_thread::yield();
            statuses[t] =
                connpool_registry_get_or_create(&got[t], "raced", info.c_str(), opts.opts, nullptr);
            if (statuses[t] != CONNPOOL_OK) return;
            connpool_lease *lease = nullptr;
            if (connpool_pool_acquire(&lease, got[t], 10000, nullptr) == CONNPOOL_OK) {
                connpool_lease_release(lease, nullptr);
            }
        });
    }
    go = true;
    for (std::thread &t : threads) t.join();
    for (int t = 0; t < kThreads; ++t) {
        EXPECT_EQ(statuses[t], CONNPOOL_OK);
        if (got[t] != nullptr) handles_.push_back(got[t]);
    }
    EXPECT_EQ(std::set<connpool_pool *>(got.begin(), got.end()).size(), size_t{kThreads});
    EXPECT_EQ(names(), "raced\n");
    const connpool_stats s = stats(got[0]);
    EXPECT_EQ(s.acquired, kThreads) << "every handle counted in one pool";
    EXPECT_LE(s.created, 2);
    Admin admin;
    EXPECT_LE(backends_like(admin, app_), 2);
}

// ---- statistics of all pools --------------------------------------------------------------------

TEST_F(RegistryTest, StatsJsonHasEveryPoolAndTheirSums) {
    Options small({{"max_size", "2"}});
    Options large({{"max_size", "6"}, {"max_overflow", "2"}});
    connpool_pool *a = get("stats-a", conninfo("_a"), small.opts);
    connpool_pool *b = get("stats-b", conninfo("_b"), large.opts);
    // a: 3 acquires on one connection (2 reused); b: 2 connections, one still leased.
    for (int i = 0; i < 3; ++i) {
        connpool_lease *lease = acquire(a);
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    }
    connpool_lease *b1 = acquire(b);
    connpool_lease *b2 = acquire(b);
    EXPECT_EQ(connpool_lease_release(b1, nullptr), CONNPOOL_OK);

    char *out = nullptr;
    ASSERT_EQ(connpool_registry_stats_json(&out, nullptr), CONNPOOL_OK);
    const std::string json = take_string(out);
    Value doc;
    ASSERT_TRUE(Reader(json).read(doc)) << json;
    const Value &pools = doc.at("pools");
    ASSERT_TRUE(pools.object) << json;
    EXPECT_EQ(pools.object->size(), 2u);
    const Value &sa = pools.at("stats-a");
    const Value &sb = pools.at("stats-b");
    EXPECT_EQ(sa.at("name").text, "stats-a");
    EXPECT_EQ(sb.at("name").text, "stats-b");
    const Value &sum = doc.at("aggregate");
    EXPECT_EQ(sum.at("pools").number(), 2);
    // Every counter and every count of connections is summed; the other gauges (maxima,
    // percentiles, breaker state, verdict) show the worst pool's value; the utilisation is
    // computed over all capacity (below).
    const std::set<std::string> additive_gauges = {"total",    "idle",         "in_use",
                                                   "opening",  "waiting",      "max_size",
                                                   "min_size", "max_overflow", "recent_errors"};
    const int32_t fields = connpool_stats_field_count();
    ASSERT_GT(fields, 10);
    for (int32_t i = 0; i < fields; ++i) {
        connpool_stats_field info{};
        info.struct_size = sizeof info;
        ASSERT_EQ(connpool_stats_field_describe(&info, i, nullptr), CONNPOOL_OK);
        const std::string name = info.name;
        if (name == "utilisation_percent") continue;
        const double a = sa.at(info.name).number();
        const double b = sb.at(info.name).number();
        const bool summed = info.kind == CONNPOOL_STAT_COUNTER || additive_gauges.count(name) > 0;
        EXPECT_EQ(sum.at(info.name).number(), summed ? a + b : std::max(a, b))
            << info.name << " in " << json;
    }
    EXPECT_EQ(json.find("\"utilisation_percent\"", json.find("\"aggregate\"")),
              json.rfind("\"utilisation_percent\""))
        << "the aggregate has one utilisation_percent: " << json;
    EXPECT_EQ(sum.at("acquired").number(), 5);
    EXPECT_EQ(sum.at("created").number(), 3);
    EXPECT_EQ(sum.at("reused").number(), 2);
    EXPECT_EQ(sum.at("in_use").number(), 1);
    // 1 in use over (2 + 0) + (6 + 2); 2 reused / 3 created.
    EXPECT_NEAR(sum.at("utilisation_percent").number(), 10.0, 0.01);
    EXPECT_NEAR(sum.at("reuse_ratio").number(), 2.0 / 3.0, 0.001);
    EXPECT_EQ(connpool_lease_release(b2, nullptr), CONNPOOL_OK);

    EXPECT_EQ(connpool_registry_close_all(nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_registry_stats_json(&out, nullptr), CONNPOOL_OK);
    Value empty;
    const std::string none = take_string(out);
    ASSERT_TRUE(Reader(none).read(empty)) << none;
    EXPECT_EQ(empty.at("aggregate").at("pools").number(), 0);
    EXPECT_EQ(empty.at("aggregate").at("reuse_ratio").number(), 0);
    EXPECT_EQ(empty.at("aggregate").at("utilisation_percent").number(), 0);
    EXPECT_EQ(connpool_registry_stats_json(nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
}

// ---- the connection budget ---------------------------------------------------------------------

// Samples the server's count of this test's backends until stopped; remembers the largest.
class BackendSampler {
  public:
    explicit BackendSampler(std::string pattern)
        : pattern_(std::move(pattern)), thread_([this] { run(); }) {}
    ~BackendSampler() { stop(); }
    int stop() {
        done_ = true;
        if (thread_.joinable()) thread_.join();
        return most_;
    }
    int samples() const { return samples_; }

  private:
    void run() {
        Admin admin;
        while (!done_) {
            const int n = std::stoi(
                admin.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '" +
                             pattern_ + "'"));
            most_ = std::max(most_.load(), n);
            ++samples_;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    const std::string pattern_;
    std::atomic<bool> done_{false};
    std::atomic<int> most_{0}, samples_{0};
    std::thread thread_;
};

TEST_F(RegistryTest, BudgetCapsTheBackendsOfAllRegisteredPools) {
    constexpr int kBudget = 3;
    EXPECT_EQ(connpool_registry_set_connection_budget(-1, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(connpool_registry_set_connection_budget(kBudget, nullptr), CONNPOOL_OK);
    Options opts({{"max_size", "3"}, {"acquire_timeout", "5000"}});
    connpool_pool *a = get("budget-a", conninfo("_a"), opts.opts);
    connpool_pool *b = get("budget-b", conninfo("_b"), opts.opts);
    BackendSampler sampler(app_ + "%");
    std::atomic<int> done{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            connpool_pool *pool = t % 2 == 0 ? a : b;
            for (int i = 0; i < 15; ++i) {
                connpool_lease *lease = nullptr;
                if (connpool_pool_acquire(&lease, pool, 5000, nullptr) != CONNPOOL_OK) {
                    ++failed;
                    continue;
                }
                connpool_result *r = nullptr;
                connpool_lease_exec(&r, lease, "SELECT pg_sleep(0.003)", 0, nullptr, nullptr);
                connpool_result_free(r);
                connpool_lease_release(lease, nullptr);
                ++done;
            }
        });
    }
    for (std::thread &t : threads) t.join();
    const int most = sampler.stop();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(done.load(), 6 * 15);
    EXPECT_GT(sampler.samples(), 5);
    EXPECT_LE(most, kBudget) << "the budget held on the server";
    EXPECT_LE(stats(a).total + stats(b).total, kBudget);
    EXPECT_GT(stats(a).acquired, 0);
    EXPECT_GT(stats(b).acquired, 0);
}

TEST_F(RegistryTest, BudgetLetsAPoolTakeAnotherPoolsIdleConnectionElseTimesOut) {
    ASSERT_EQ(connpool_registry_set_connection_budget(2, nullptr), CONNPOOL_OK);
    Options opts({{"max_size", "2"}});
    connpool_pool *a = get("idle-a", conninfo("_a"), opts.opts);
    connpool_pool *b = get("idle-b", conninfo("_b"), opts.opts);
    connpool_lease *a1 = acquire(a);
    connpool_lease *a2 = acquire(a);
    // Both permits are a's leases: b waits out its timeout.
    connpool_lease *lease = nullptr;
    Error error;
    // Long enough for b's worker to have asked the budget (slow under sanitizers).
    EXPECT_EQ(connpool_pool_acquire(&lease, b, 1000, error.out()), CONNPOOL_ERR_TIMEOUT);
    EXPECT_NE(error.message().find("connection budget is spent"), std::string::npos)
        << error.message();
    // a's connections go idle: b closes one of them and opens its own.
    EXPECT_EQ(connpool_lease_release(a1, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(a2, nullptr), CONNPOOL_OK);
    connpool_lease *b1 = acquire(b, 5000);
    ASSERT_NE(b1, nullptr);
    EXPECT_EQ(stats(a).total, 1);
    EXPECT_EQ(stats(a).closed, 1);
    Admin admin;
    EXPECT_EQ(backends_like(admin, app_ + "_a", 1), 1);
    EXPECT_EQ(backends_like(admin, app_ + "_b", 1), 1);
    // While b waits with a's lease out, a's release lets b in well before b's timeout.
    connpool_lease *a3 = acquire(a);
    std::thread waiter([&] {
        connpool_lease *b2 = acquire(b, 8000);
        EXPECT_NE(b2, nullptr);
        if (b2 != nullptr) connpool_lease_release(b2, nullptr);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto released = Clock::now();
    EXPECT_EQ(connpool_lease_release(a3, nullptr), CONNPOOL_OK);
    waiter.join();
    EXPECT_LT(Clock::now() - released, std::chrono::seconds(3));
    EXPECT_EQ(connpool_lease_release(b1, nullptr), CONNPOOL_OK);
    EXPECT_LE(backends_like(admin, app_ + "%"), 2);
    // Turning the budget off lets both pools open what they need.
    ASSERT_EQ(connpool_registry_set_connection_budget(0, nullptr), CONNPOOL_OK);
    connpool_lease *leases[4] = {acquire(a), acquire(a), acquire(b), acquire(b)};
    EXPECT_EQ(backends_like(admin, app_ + "%", 4), 4);
    for (connpool_lease *l : leases) EXPECT_EQ(connpool_lease_release(l, nullptr), CONNPOOL_OK);
}

TEST_F(RegistryTest, AWaiterWakesAPoolTheBudgetRefusedWhileNobodyWaited) {
    ASSERT_EQ(connpool_registry_set_connection_budget(2, nullptr), CONNPOOL_OK);
    Options full({{"max_size", "2"}, {"min_size", "2"}});
    connpool_pool *a = get("woken-a", conninfo("_a"), full.opts);
    ASSERT_EQ(connpool_pool_wait_ready(a, 10000, nullptr), CONNPOOL_OK);  // both permits, idle
    // b's top-up to min_size is refused (topping up never takes from others) and nobody waits.
    Options one({{"max_size", "1"}, {"min_size", "1"}, {"maintenance_interval", "5000"}});
    connpool_pool *b = get("woken-b", conninfo("_b"), one.opts);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(stats(b).total, 0);
    // A caller arriving now takes one of a's idle connections well before b's next maintenance.
    connpool_lease *lease = nullptr;
    Error error;
    EXPECT_EQ(connpool_pool_acquire(&lease, b, 2000, error.out()), CONNPOOL_OK) << error.message();
    if (lease != nullptr) {
        EXPECT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    }
    EXPECT_EQ(stats(a).total, 1);
}

// ---- fork -------------------------------------------------------------------------------------

#if !defined(__SANITIZE_THREAD__)  // TSan cannot start threads in the child of a threaded fork
// A child gets an empty registry and a budget of its own: it must neither see nor close the
// parent's pools, nor have its budget take the parent's idle connections (closing one there
// would end the parent's session), nor hang on the parent's threads.
TEST_F(RegistryTest, AChildStartsWithAnEmptyRegistryAndLeavesTheParentsPoolsAlone) {
    ASSERT_EQ(connpool_registry_set_connection_budget(2, nullptr), CONNPOOL_OK);
    Options opts({{"max_size", "2"}, {"min_size", "2"}});
    connpool_pool *parent = get("forked", conninfo("_p"), opts.opts);
    ASSERT_EQ(connpool_pool_wait_ready(parent, 10000, nullptr), CONNPOOL_OK);
    Admin admin;
    ASSERT_EQ(backends_like(admin, app_ + "_p", 2), 2);  // both permits: the parent's, idle
    const std::string child_conninfo = conninfo("_c");

    const pid_t child = fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
        alarm(30);  // a hang fails the test instead of stalling it
        int failed = 0;
        char *listed = nullptr;
        if (connpool_registry_names(&listed, nullptr) != CONNPOOL_OK || listed == nullptr ||
            listed[0] != '\0') {
            failed |= 1;
        }
        connpool_string_free(listed);
        connpool_pool *inherited = nullptr;
        if (connpool_registry_lookup(&inherited, "forked", nullptr) != CONNPOOL_ERR_NOT_FOUND) {
            failed |= 2;
        }
        connpool_pool *own = nullptr;
        if (connpool_registry_get_or_create(&own, "forked", child_conninfo.c_str(), nullptr,
                                            nullptr) != CONNPOOL_OK) {
            failed |= 4;
        }
        connpool_lease *lease = nullptr;
        if (own == nullptr || connpool_pool_acquire(&lease, own, 10000, nullptr) != CONNPOOL_OK) {
            failed |= 8;
        }
        if (lease != nullptr) connpool_lease_release(lease, nullptr);
        connpool_pool_free(own);
        if (connpool_registry_close_all(nullptr) != CONNPOOL_OK) failed |= 16;
        _exit(failed);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status))
        << "the child did not finish (signal " << WTERMSIG(status) << ")";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "failed checks in the child (bit mask)";
    // The parent's two connections served the child nothing and still serve the parent.
    connpool_lease *l1 = acquire(parent);
    connpool_lease *l2 = acquire(parent);
    EXPECT_EQ(scalar(l1, "SELECT 1"), "1");
    EXPECT_EQ(scalar(l2, "SELECT 1"), "1");
    EXPECT_EQ(connpool_lease_release(l1, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_lease_release(l2, nullptr), CONNPOOL_OK);
    const connpool_stats s = stats(parent);
    EXPECT_EQ(s.created, 2);
    EXPECT_EQ(s.closed, 0);
    EXPECT_EQ(s.health_check_failures, 0);
    EXPECT_EQ(backends_like(admin, app_ + "_c", 0), 0) << "the child's pool closed its backend";
}
#endif

TEST_F(RegistryTest, PoolsOutsideTheRegistryIgnoreTheBudget) {
    ASSERT_EQ(connpool_registry_set_connection_budget(1, nullptr), CONNPOOL_OK);
    connpool_pool *registered = get("inside", conninfo("_in"));
    connpool_lease *in = acquire(registered);
    connpool_pool *plain = nullptr;
    ASSERT_EQ(connpool_pool_create(&plain, conninfo("_out").c_str(), nullptr, nullptr),
              CONNPOOL_OK);
    connpool_lease *out1 = acquire(plain);
    connpool_lease *out2 = acquire(plain);
    EXPECT_NE(out2, nullptr);
    for (connpool_lease *l : {in, out1, out2})
        EXPECT_EQ(connpool_lease_release(l, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_pool_free(plain), CONNPOOL_OK);
}

}  // namespace
}  // namespace connpool::pgtest
