// StatementCache: the per-connection bookkeeping of prepared statements (pure, no server).
// Which executions run unprepared, when a text gets prepared and under which name, which
// prepared statement is evicted at capacity, and which names wait for DEALLOCATE.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <list>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pg/statement_cache.hpp"

namespace connpool::testing {
namespace {

// What one call of use() decided, copied out (the name pointer is only valid until the next
// call that may evict).
struct Decision {
    bool prepared = false;  // runs as a named statement
    bool prepare = false;   // must be prepared first
    std::string name;
};

Decision use(StatementCache &cache, std::string_view sql, int32_t n_params = 0) {
    const StatementCache::Use u = cache.use(sql, n_params);
    Decision d;
    d.prepared = u.name != nullptr;
    d.prepare = u.prepare;
    if (u.name != nullptr) d.name = *u.name;
    return d;
}

// Uses `sql` until it is prepared; returns its name. Fails the test if that takes more than
// `limit` uses.
std::string prepare(StatementCache &cache, std::string_view sql, int32_t n_params = 0,
                    int limit = 100) {
    for (int i = 0; i < limit; ++i) {
        const Decision d = use(cache, sql, n_params);
        if (d.prepared) {
            EXPECT_TRUE(d.prepare) << sql << ": first named use must prepare";
            return d.name;
        }
    }
    ADD_FAILURE() << sql << " not prepared after " << limit << " uses";
    return {};
}

TEST(StatementCacheTest, CapacityZeroDisablesTheCache) {
    for (int64_t capacity : {int64_t{0}, int64_t{-1}}) {
        StatementCache cache({.capacity = capacity, .prepare_threshold = 0});
        EXPECT_FALSE(cache.enabled()) << capacity;
        for (int i = 0; i < 20; ++i) {
            const Decision d = use(cache, "SELECT 1");
            EXPECT_FALSE(d.prepared) << "use " << i;
            EXPECT_FALSE(d.prepare) << "use " << i;
        }
        EXPECT_EQ(cache.prepared_count(), 0u);
        EXPECT_EQ(cache.counting_count(), 0u);
        EXPECT_TRUE(cache.pending_deallocations().empty());
    }
}

TEST(StatementCacheTest, PositiveCapacityEnablesTheCache) {
    EXPECT_TRUE(StatementCache({.capacity = 1, .prepare_threshold = 5}).enabled());
    EXPECT_TRUE(StatementCache(StatementCacheConfig{}).enabled());  // defaults: 100 / 5
}

TEST(StatementCacheTest, RunsUnpreparedThresholdTimesThenPreparesOnce) {
    StatementCache cache({.capacity = 10, .prepare_threshold = 3});
    for (int i = 1; i <= 3; ++i) {
        const Decision d = use(cache, "SELECT $1", 1);
        EXPECT_FALSE(d.prepared) << "execution " << i << " is within the threshold";
        EXPECT_FALSE(d.prepare) << "execution " << i;
        EXPECT_EQ(cache.counting_count(), 1u);
        EXPECT_EQ(cache.prepared_count(), 0u);
    }
    const Decision fourth = use(cache, "SELECT $1", 1);
    EXPECT_TRUE(fourth.prepared);
    EXPECT_TRUE(fourth.prepare);
    EXPECT_FALSE(fourth.name.empty());
    EXPECT_EQ(cache.counting_count(), 0u);
    EXPECT_EQ(cache.prepared_count(), 1u);
    // From then on: a hit, same name, never prepared again.
    for (int i = 0; i < 5; ++i) {
        const Decision d = use(cache, "SELECT $1", 1);
        EXPECT_TRUE(d.prepared);
        EXPECT_FALSE(d.prepare);
        EXPECT_EQ(d.name, fourth.name);
    }
    EXPECT_EQ(cache.prepared_count(), 1u);
    EXPECT_TRUE(cache.pending_deallocations().empty());
}

TEST(StatementCacheTest, DefaultThresholdIsFiveUnpreparedExecutions) {
    StatementCache cache(StatementCacheConfig{});
    for (int i = 1; i <= 5; ++i) EXPECT_FALSE(use(cache, "SELECT 1").prepared) << i;
    EXPECT_TRUE(use(cache, "SELECT 1").prepare);
}

TEST(StatementCacheTest, ThresholdZeroPreparesOnTheFirstExecution) {
    StatementCache cache({.capacity = 10, .prepare_threshold = 0});
    const Decision first = use(cache, "SELECT 1");
    EXPECT_TRUE(first.prepared);
    EXPECT_TRUE(first.prepare);
    EXPECT_EQ(cache.prepared_count(), 1u);
    EXPECT_EQ(cache.counting_count(), 0u);
    const Decision second = use(cache, "SELECT 1");
    EXPECT_TRUE(second.prepared);
    EXPECT_FALSE(second.prepare);
    EXPECT_EQ(second.name, first.name);
}

TEST(StatementCacheTest, ThresholdOnePreparesOnTheSecondExecution) {
    StatementCache cache({.capacity = 10, .prepare_threshold = 1});
    EXPECT_FALSE(use(cache, "SELECT 1").prepared);
    const Decision second = use(cache, "SELECT 1");
    EXPECT_TRUE(second.prepared);
    EXPECT_TRUE(second.prepare);
}

TEST(StatementCacheTest, TextsAreCountedSeparately) {
    StatementCache cache({.capacity = 10, .prepare_threshold = 2});
    EXPECT_FALSE(use(cache, "SELECT 1").prepared);
    EXPECT_FALSE(use(cache, "SELECT 2").prepared);
    EXPECT_FALSE(use(cache, "SELECT 1").prepared);
    EXPECT_FALSE(use(cache, "SELECT 2").prepared);
    EXPECT_EQ(cache.counting_count(), 2u);
    EXPECT_TRUE(use(cache, "SELECT 1").prepare);  // third execution of "SELECT 1"
    EXPECT_EQ(cache.counting_count(), 1u);
    EXPECT_TRUE(use(cache, "SELECT 2").prepare);
    EXPECT_EQ(cache.counting_count(), 0u);
    EXPECT_EQ(cache.prepared_count(), 2u);
}

TEST(StatementCacheTest, SameTextWithAnotherParameterCountIsAnotherStatement) {
    StatementCache cache({.capacity = 10, .prepare_threshold = 0});
    const Decision none = use(cache, "SELECT $1::text", 0);
    const Decision one = use(cache, "SELECT $1::text", 1);
    EXPECT_TRUE(none.prepare);
    EXPECT_TRUE(one.prepare);
    EXPECT_NE(none.name, one.name);
    EXPECT_EQ(cache.prepared_count(), 2u);
    EXPECT_EQ(use(cache, "SELECT $1::text", 0).name, none.name);
    EXPECT_EQ(use(cache, "SELECT $1::text", 1).name, one.name);
}

TEST(StatementCacheTest, KeepsItsOwnCopyOfTheText) {
    StatementCache cache({.capacity = 10, .prepare_threshold = 0});
    std::string name;
    {
        std::string sql = "SELECT * FROM t WHERE id = $1";
        name = use(cache, sql, 1).name;
        sql.assign(sql.size(), 'x');  // the caller's buffer changes, then goes away
    }
    const std::string again = "SELECT * FROM t WHERE id = $1";
    const Decision d = use(cache, again, 1);
    EXPECT_TRUE(d.prepared);
    EXPECT_FALSE(d.prepare);
    EXPECT_EQ(d.name, name);
    // The overwritten text is not a hit either.
    EXPECT_TRUE(use(cache, std::string(again.size(), 'x'), 1).prepare);
}

TEST(StatementCacheTest, NamesAreUniqueAcrossTextsAndCachesAndCarryThePrefix) {
    StatementCache a({.capacity = 50, .prepare_threshold = 0});
    StatementCache b({.capacity = 50, .prepare_threshold = 0});
    std::set<std::string> names;
    for (int i = 0; i < 50; ++i) {
        const std::string sql = "SELECT " + std::to_string(i);
        for (StatementCache *cache : {&a, &b}) {
            const std::string name = use(*cache, sql).name;
            EXPECT_EQ(name.rfind("_connpool_", 0), 0u) << name;
            EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
        }
    }
    EXPECT_EQ(names.size(), 100u);
}

TEST(StatementCacheTest, NamesAreUniqueAcrossThreads) {
    // One cache per connection, connections on different threads: behind a proxy sharing
    // server sessions, no two connections of the process may use the same name.
    constexpr int kThreads = 4;
    constexpr int kNamesPerThread = 500;
    std::vector<std::vector<std::string>> names(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&names, t] {
            StatementCache cache({.capacity = 1, .prepare_threshold = 0});
            for (int i = 0; i < kNamesPerThread; ++i) {
                names[t].push_back(use(cache, "SELECT " + std::to_string(i)).name);
            }
        });
    }
    for (std::thread &t : threads) t.join();
    std::set<std::string> all;
    for (const auto &per_thread : names) all.insert(per_thread.begin(), per_thread.end());
    EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kNamesPerThread));
    EXPECT_EQ(all.count(""), 0u);
}

TEST(StatementCacheTest, EvictsTheLeastRecentlyUsedAtCapacity) {
    StatementCache cache({.capacity = 3, .prepare_threshold = 0});
    const std::string a = use(cache, "A").name;
    const std::string b = use(cache, "B").name;
    const std::string c = use(cache, "C").name;
    EXPECT_EQ(cache.prepared_count(), 3u);
    EXPECT_TRUE(cache.pending_deallocations().empty());
    // Recency now (most recent first): C B A. A hit on A makes it A C B.
    EXPECT_EQ(use(cache, "A").name, a);
    const std::string d = use(cache, "D").name;  // evicts B
    EXPECT_EQ(cache.prepared_count(), 3u);
    EXPECT_EQ(cache.pending_deallocations(), std::vector<std::string>{b});
    // D A C: a hit on C, then E evicts A.
    EXPECT_EQ(use(cache, "C").name, c);
    use(cache, "E");
    EXPECT_EQ(cache.pending_deallocations(), (std::vector<std::string>{b, a}));
    // The survivors are hits with their old names.
    EXPECT_EQ(use(cache, "C").name, c);
    EXPECT_EQ(use(cache, "D").name, d);
    EXPECT_FALSE(use(cache, "D").prepare);
    // An evicted text is prepared again, under a new name.
    const Decision b2 = use(cache, "B");
    EXPECT_TRUE(b2.prepare);
    EXPECT_NE(b2.name, b);
    EXPECT_EQ(cache.prepared_count(), 3u);
}

TEST(StatementCacheTest, CapacityOneKeepsOnlyTheLatestPreparedText) {
    StatementCache cache({.capacity = 1, .prepare_threshold = 0});
    const std::string a = use(cache, "A").name;
    EXPECT_EQ(use(cache, "A").name, a);
    const std::string b = use(cache, "B").name;
    EXPECT_EQ(cache.prepared_count(), 1u);
    EXPECT_EQ(cache.pending_deallocations(), std::vector<std::string>{a});
    EXPECT_FALSE(use(cache, "B").prepare);
    const Decision a2 = use(cache, "A");
    EXPECT_TRUE(a2.prepare);
    EXPECT_NE(a2.name, a);
    EXPECT_EQ(cache.pending_deallocations(), (std::vector<std::string>{a, b}));
}

TEST(StatementCacheTest, PromotionPastTheThresholdEvictsTooAndNeverThePromotedText) {
    StatementCache cache({.capacity = 1, .prepare_threshold = 1});
    use(cache, "A");
    const std::string a = prepare(cache, "A");
    use(cache, "B");  // counting; A stays prepared
    EXPECT_EQ(cache.prepared_count(), 1u);
    EXPECT_EQ(cache.counting_count(), 1u);
    EXPECT_TRUE(cache.pending_deallocations().empty());
    const Decision b = use(cache, "B");  // promoted: A goes
    EXPECT_TRUE(b.prepare);
    EXPECT_EQ(cache.pending_deallocations(), std::vector<std::string>{a});
    EXPECT_EQ(use(cache, "B").name, b.name);
    EXPECT_FALSE(use(cache, "A").prepared);  // counts again from the start
}

TEST(StatementCacheTest, CountingTextsAreBoundedByCapacityLeastRecentFirst) {
    StatementCache cache({.capacity = 2, .prepare_threshold = 2});
    use(cache, "A");
    use(cache, "B");
    use(cache, "A");  // A: 2 executions and now the most recent; B: 1
    use(cache, "C");  // a third counting text: B (least recent) is dropped
    EXPECT_EQ(cache.counting_count(), 2u);
    EXPECT_EQ(cache.prepared_count(), 0u);
    // A kept its count: its third execution prepares it.
    EXPECT_TRUE(use(cache, "A").prepare);
    // B starts over: two more unprepared executions.
    EXPECT_FALSE(use(cache, "B").prepared);
    EXPECT_FALSE(use(cache, "B").prepared);
    EXPECT_TRUE(use(cache, "B").prepare);
    // Dropping a counting text queues nothing (it was never prepared).
    EXPECT_TRUE(cache.pending_deallocations().empty());
}

TEST(StatementCacheTest, CapacityOneAlternatingTextsNeverReachTheThreshold) {
    StatementCache cache({.capacity = 1, .prepare_threshold = 1});
    for (int i = 0; i < 10; ++i) {
        EXPECT_FALSE(use(cache, "A").prepared) << i;
        EXPECT_FALSE(use(cache, "B").prepared) << i;
        EXPECT_EQ(cache.counting_count(), 1u);
    }
    EXPECT_EQ(cache.prepared_count(), 0u);
}

TEST(StatementCacheTest, PendingDeallocationsAreTakenByTheCaller) {
    StatementCache cache({.capacity = 1, .prepare_threshold = 0});
    const std::string a = use(cache, "A").name;
    use(cache, "B");
    std::vector<std::string> &pending = cache.pending_deallocations();
    ASSERT_EQ(pending, std::vector<std::string>{a});
    pending.clear();  // the runner sent DEALLOCATE
    EXPECT_TRUE(cache.pending_deallocations().empty());
    const std::string b = use(cache, "B").name;
    use(cache, "C");
    EXPECT_EQ(cache.pending_deallocations(), std::vector<std::string>{b});
}

TEST(StatementCacheTest, PendingDeallocationsAreCappedAtOneThousand) {
    StatementCache cache({.capacity = 1, .prepare_threshold = 0});
    std::vector<std::string> evicted;
    std::string previous;
    for (int i = 0; i < 1010; ++i) {
        const std::string name = use(cache, "SELECT " + std::to_string(i)).name;
        if (!previous.empty()) evicted.push_back(previous);
        previous = name;
    }
    ASSERT_EQ(evicted.size(), 1009u);
    // The first 1000 are kept, later ones dropped (those stay on the server until it closes).
    evicted.resize(1000);
    EXPECT_EQ(cache.pending_deallocations(), evicted);
    // The cap also holds for forget() and forget_all().
    cache.forget(previous, true);
    EXPECT_EQ(cache.pending_deallocations().size(), 1000u);
    cache.forget_all(false);
    EXPECT_EQ(cache.pending_deallocations().size(), 1000u);
    // Once the runner took them, there is room again.
    cache.pending_deallocations().clear();
    const std::string x = use(cache, "X").name;
    cache.forget_all(false);
    EXPECT_EQ(cache.pending_deallocations(), std::vector<std::string>{x});
}

TEST(StatementCacheTest, ForgetOnServerQueuesADeallocateAndTheTextStartsOver) {
    StatementCache cache({.capacity = 10, .prepare_threshold = 2});
    const std::string a = prepare(cache, "A");
    const std::string b = prepare(cache, "B");
    cache.forget(a, true);
    EXPECT_EQ(cache.prepared_count(), 1u);
    EXPECT_EQ(cache.pending_deallocations(), std::vector<std::string>{a});
    EXPECT_EQ(use(cache, "B").name, b);  // the other entry is untouched
    EXPECT_FALSE(use(cache, "A").prepared);
    EXPECT_FALSE(use(cache, "A").prepared);
    const Decision again = use(cache, "A");
    EXPECT_TRUE(again.prepare);
    EXPECT_NE(again.name, a);
}

TEST(StatementCacheTest, ForgetNotOnServerQueuesNothing) {
    StatementCache cache({.capacity = 10, .prepare_threshold = 0});
    const std::string a = use(cache, "A").name;
    cache.forget(a, false);
    EXPECT_EQ(cache.prepared_count(), 0u);
    EXPECT_TRUE(cache.pending_deallocations().empty());
    const Decision again = use(cache, "A");
    EXPECT_TRUE(again.prepare);
    EXPECT_NE(again.name, a);
}

TEST(StatementCacheTest, ForgetOfAnUnknownNameChangesNothing) {
    StatementCache cache({.capacity = 10, .prepare_threshold = 1});
    const std::string a = prepare(cache, "A");
    use(cache, "B");  // counting: its entry has no name yet
    cache.forget("_connpool_no_such_statement", true);
    cache.forget("", true);  // must not match a counting entry
    EXPECT_EQ(cache.prepared_count(), 1u);
    EXPECT_EQ(cache.counting_count(), 1u);
    EXPECT_TRUE(cache.pending_deallocations().empty());
    EXPECT_EQ(use(cache, "A").name, a);
    EXPECT_TRUE(use(cache, "B").prepare);  // B kept its count
}

TEST(StatementCacheTest, ForgetAllQueuesEveryPreparedNameUnlessTheServerDroppedThem) {
    StatementCache cache({.capacity = 3, .prepare_threshold = 1});
    const std::string a = prepare(cache, "A");
    const std::string b = prepare(cache, "B");
    const std::string c = prepare(cache, "C");
    const std::string d = prepare(cache, "D");  // evicts A: already pending
    use(cache, "E");                            // counting
    ASSERT_EQ(cache.pending_deallocations(), std::vector<std::string>{a});

    cache.forget_all(false);
    EXPECT_EQ(cache.prepared_count(), 0u);
    EXPECT_EQ(cache.counting_count(), 0u);
    std::vector<std::string> pending = cache.pending_deallocations();
    std::sort(pending.begin(), pending.end());
    std::vector<std::string> expected{a, b, c, d};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(pending, expected);
    EXPECT_EQ(cache.pending_deallocations().front(), a);  // earlier ones stay first

    // Everything starts over, with new names.
    EXPECT_FALSE(use(cache, "B").prepared);
    EXPECT_FALSE(use(cache, "E").prepared);  // its count was dropped as well
    const Decision b2 = use(cache, "B");
    EXPECT_TRUE(b2.prepare);
    EXPECT_NE(b2.name, b);
}

TEST(StatementCacheTest, ForgetAllAfterTheServerDroppedEverythingQueuesNothing) {
    StatementCache cache({.capacity = 1, .prepare_threshold = 0});
    use(cache, "A");
    use(cache, "B");  // A pending
    ASSERT_EQ(cache.pending_deallocations().size(), 1u);
    cache.forget_all(true);  // DISCARD ALL: A and B are gone on the server too
    EXPECT_TRUE(cache.pending_deallocations().empty());
    EXPECT_EQ(cache.prepared_count(), 0u);
    EXPECT_EQ(cache.counting_count(), 0u);
    EXPECT_TRUE(use(cache, "B").prepare);
}

TEST(StatementCacheTest, ForgetAllOnAnEmptyCacheIsHarmless) {
    StatementCache cache({.capacity = 5, .prepare_threshold = 5});
    cache.forget_all(false);
    cache.forget_all(true);
    EXPECT_TRUE(cache.pending_deallocations().empty());
    EXPECT_FALSE(use(cache, "A").prepared);
    EXPECT_EQ(cache.counting_count(), 1u);
}

// A random workload checked against a straightforward model of the documented behaviour:
// prepared and counting texts are two LRU lists bounded by capacity, a text is prepared on
// its (threshold + 1)-th execution, evicted and forgotten-on-server names are queued.
TEST(StatementCacheTest, RandomWorkloadMatchesAReferenceModel) {
    struct Model {
        struct Prepared {
            std::pair<std::string, int32_t> key;
            std::string name;
        };
        struct Counting {
            std::pair<std::string, int32_t> key;
            int64_t uses;
        };
        std::list<Prepared> prepared;  // front = most recent
        std::list<Counting> counting;
        std::vector<std::string> pending;
    };
    std::mt19937 rng(20240611);
    for (int64_t capacity : {1, 2, 3, 5}) {
        for (int64_t threshold : {0, 1, 2, 4}) {
            SCOPED_TRACE(::testing::Message()
                         << "capacity " << capacity << " threshold " << threshold);
            StatementCache cache({.capacity = capacity, .prepare_threshold = threshold});
            Model m;
            std::set<std::string> names_seen;
            for (int step = 0; step < 3000; ++step) {
                const int op = static_cast<int>(rng() % 100);
                if (op < 2) {
                    const bool dropped = rng() % 2 == 0;
                    cache.forget_all(dropped);
                    if (dropped) {
                        m.pending.clear();
                    } else {
                        for (auto &p : m.prepared) m.pending.push_back(p.name);
                    }
                    m.prepared.clear();
                    m.counting.clear();
                } else if (op < 6 && !m.prepared.empty()) {
                    auto it = m.prepared.begin();
                    std::advance(it, rng() % m.prepared.size());
                    const bool on_server = rng() % 2 == 0;
                    cache.forget(it->name, on_server);
                    if (on_server) m.pending.push_back(it->name);
                    m.prepared.erase(it);
                } else if (op < 8) {
                    cache.pending_deallocations().clear();
                    m.pending.clear();
                } else {
                    const std::pair<std::string, int32_t> key{"SELECT " + std::to_string(rng() % 7),
                                                              static_cast<int32_t>(rng() % 2)};
                    const Decision got = use(cache, key.first, key.second);
                    auto p = std::find_if(m.prepared.begin(), m.prepared.end(),
                                          [&](const auto &e) { return e.key == key; });
                    auto c = std::find_if(m.counting.begin(), m.counting.end(),
                                          [&](const auto &e) { return e.key == key; });
                    bool promote = false;
                    if (p != m.prepared.end()) {
                        ASSERT_TRUE(got.prepared) << "step " << step;
                        ASSERT_FALSE(got.prepare) << "step " << step;
                        ASSERT_EQ(got.name, p->name) << "step " << step;
                        m.prepared.splice(m.prepared.begin(), m.prepared, p);
                    } else if (c != m.counting.end()) {
                        if (++c->uses <= threshold) {
                            ASSERT_FALSE(got.prepared) << "step " << step;
                            m.counting.splice(m.counting.begin(), m.counting, c);
                        } else {
                            m.counting.erase(c);
                            promote = true;
                        }
                    } else if (threshold == 0) {
                        promote = true;
                    } else {
                        ASSERT_FALSE(got.prepared) << "step " << step;
                        m.counting.push_front({key, 1});
                        if (m.counting.size() > static_cast<size_t>(capacity)) {
                            m.counting.pop_back();
                        }
                    }
                    if (promote) {
                        ASSERT_TRUE(got.prepared) << "step " << step;
                        ASSERT_TRUE(got.prepare) << "step " << step;
                        ASSERT_TRUE(names_seen.insert(got.name).second) << got.name;
                        m.prepared.push_front({key, got.name});
                        while (m.prepared.size() > static_cast<size_t>(capacity)) {
                            m.pending.push_back(m.prepared.back().name);
                            m.prepared.pop_back();
                        }
                    }
                }
                ASSERT_EQ(cache.prepared_count(), m.prepared.size()) << "step " << step;
                ASSERT_EQ(cache.counting_count(), m.counting.size()) << "step " << step;
                ASSERT_EQ(cache.pending_deallocations(), m.pending) << "step " << step;
                ASSERT_LE(cache.prepared_count(), static_cast<size_t>(capacity));
            }
        }
    }
}

}  // namespace
}  // namespace connpool::testing
