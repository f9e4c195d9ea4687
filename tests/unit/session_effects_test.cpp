// may_change_session: the lexical scanner behind reset=auto (pure, no server). Neutral texts
// cost no reset; everything that can leave session state behind, or that the scanner cannot
// read with confidence, counts as a change.
#include <gtest/gtest.h>

#include <string>

#include "pg/session_effects.hpp"
#include "pg/session_reset.hpp"
#include "pg/statement_cache.hpp"

namespace connpool::testing {
namespace {

TEST(SessionEffects, PlainQueriesAndDmlAreNeutral) {
    for (const char *sql : {
             "SELECT 1",
             "  select * from t where id = $1",
             "-- comment\nSELECT count(*), max(x), coalesce(a, 'b') FROM t",
             "/* a /* nested */ comment */ SELECT now()",
             "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING id",
             "INSERT INTO s.t (a) SELECT lower(x) FROM u",
             "UPDATE t SET (a, b) = (1, 2) WHERE id IN (SELECT id FROM u)",
             "DELETE FROM t USING u WHERE t.id = u.id",
             "WITH x AS (SELECT 1) SELECT * FROM x",
             "VALUES (1), (2)",
             "TABLE t",
             "SELECT 'set_config(''a'', ''b'', false)'",
             "SELECT $$ SET ROLE x; $$",
             "SELECT $tag$ pg_advisory_lock(1) $tag$",
             "SELECT \"set_config\" FROM t",
             "SELECT x::numeric(10, 2), CAST(y AS varchar(3)) FROM t",
             "SELECT pg_catalog.now()",
             "SELECT pg_advisory_xact_lock(7)",
             "SELECT generate_series(1, 3) AS n",
             "SELECT * FROM generate_series(1, 3) AS g(n)",
             "SELECT e'it\\'s'",
             "BEGIN",
             "BEGIN ISOLATION LEVEL SERIALIZABLE",
             "SET LOCAL statement_timeout = 100",
             "SET TRANSACTION READ ONLY",
             "COMMIT; ROLLBACK;",
             "SHOW search_path",
             "",
             ";",
             "SELECT pg_is_in_recovery(), EXTRACT(EPOCH FROM now())",
         }) {
        EXPECT_FALSE(may_change_session(sql)) << sql;
    }
}

TEST(SessionEffects, SessionChangesAreCaught) {
    for (const char *sql : {
             "SET ROLE r",
             "set search_path = x",
             "SET SESSION AUTHORIZATION r",
             "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
             "RESET ALL",
             "PREPARE p AS SELECT 1",
             "DEALLOCATE p",
             "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
             "LISTEN ch",
             "CREATE TEMP TABLE t (x int)",
             "DO $$ BEGIN PERFORM 1; END $$",
             "CALL p()",
             "DISCARD ALL",
             "LOAD 'auto_explain'",
             "SELECT set_config('search_path', 'x', false)",
             "SELECT pg_catalog.set_config('a.b', 'c', false)",
             "SELECT pg_advisory_lock(1)",
             "SELECT pg_try_advisory_lock(1)",
             "SELECT lo_open(1, 262144)",
             "SELECT dblink_connect('x')",
             "SELECT my_function(1)",
             "SELECT myschema.now()",
             "SELECT \"MyFunction\"(1)",
             "SELECT nextval('s')",
             "SELECT * INTO TEMP t FROM u",
             "SELECT 1; SET ROLE r",
             "BEGIN; SET search_path = x; COMMIT",
             "(SELECT 1)",
             "SELECT 'unterminated",
             "SELECT 1 /* unterminated",
             "SELECT $x$ unterminated",
             "SELECT 'a\\b'",  // standard_conforming_strings unknown: give up
             "COPY t FROM STDIN",
         }) {
        EXPECT_TRUE(may_change_session(sql)) << sql;
    }
}

TEST(SessionEffects, CacheClassifiesEachTextOnce) {
    StatementCache cache(StatementCacheConfig{10, 1, nullptr});
    const StatementCache::Use first = cache.use("SET ROLE r", 0);
    EXPECT_TRUE(first.classified);
    EXPECT_TRUE(first.changes_session);
    const StatementCache::Use prepared = cache.use("SELECT 1", 0);
    EXPECT_TRUE(prepared.classified && !prepared.changes_session);
    const StatementCache::Use again = cache.use("SELECT 1", 0);  // now prepared
    ASSERT_NE(again.name, nullptr);
    EXPECT_TRUE(again.classified && !again.changes_session);
    EXPECT_TRUE(cache.use("SET ROLE r", 0).changes_session);
    StatementCache disabled(StatementCacheConfig{0, 5, nullptr});
    EXPECT_FALSE(disabled.use("SELECT 1", 0).classified);  // the caller scans
}

TEST(SessionReset, FullResetKeepsTheCachesStatements) {
    const std::string &prefix = statement_name_prefix();
    EXPECT_EQ(prefix.rfind("_connpool_", 0), 0U);
    const std::string sql = full_reset_sql(false, prefix);
    EXPECT_EQ(sql.find("ROLLBACK"), std::string::npos);
    EXPECT_NE(sql.find("'" + prefix + "'"), std::string::npos);
    EXPECT_EQ(sql.find("DISCARD ALL"), std::string::npos);
    EXPECT_EQ(sql.find("DEALLOCATE ALL"), std::string::npos);
    EXPECT_EQ(full_reset_sql(true, prefix).rfind("ROLLBACK;", 0), 0U);
    EXPECT_EQ(parse_reset_mode("rollback"), ResetMode::rollback);
    EXPECT_EQ(parse_reset_mode("always"), ResetMode::always);
    EXPECT_EQ(parse_reset_mode("auto"), ResetMode::auto_);
}

}  // namespace
}  // namespace connpool::testing
