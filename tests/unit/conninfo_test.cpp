// parse_conninfo and redact: the conninfo is checked with libpq's own parser, its password is
// extracted (to scrub messages) and never shown, not even in parse errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "pg/conninfo.hpp"

namespace connpool::testing {
namespace {

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

struct Parsed {
    Error error;
    ParsedConninfo out;
};

Parsed parse(const std::string &conninfo) {
    Parsed p;
    p.error = parse_conninfo(conninfo.c_str(), p.out);
    return p;
}

// The redacted form lists the options as space-separated key=value pairs.
std::vector<std::string> pairs(const std::string &redacted) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= redacted.size()) {
        const size_t end = std::min(redacted.find(' ', start), redacted.size());
        if (end > start) out.push_back(redacted.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

bool has_pair(const std::string &redacted, const std::string &pair) {
    for (const std::string &p : pairs(redacted)) {
        if (p == pair) return true;
    }
    return false;
}

TEST(ConninfoTest, KeyValueFormExtractsAndMasksThePassword) {
    const Parsed p = parse("host=db.example port=5433 user=app password=s3cr3t dbname=appdb");
    ASSERT_TRUE(p.error.ok()) << p.error.message;
    EXPECT_EQ(p.out.password, "s3cr3t");
    EXPECT_FALSE(contains(p.out.redacted, "s3cr3t")) << p.out.redacted;
    EXPECT_TRUE(has_pair(p.out.redacted, "password=********")) << p.out.redacted;
    for (const char *kept : {"host=db.example", "port=5433", "user=app", "dbname=appdb"}) {
        EXPECT_TRUE(has_pair(p.out.redacted, kept)) << kept << " in " << p.out.redacted;
    }
    EXPECT_EQ(pairs(p.out.redacted).size(), 5u) << p.out.redacted;
}

TEST(ConninfoTest, WithoutPasswordNothingIsMasked) {
    const Parsed p = parse("host=/var/run/postgresql dbname=app user=app");
    ASSERT_TRUE(p.error.ok()) << p.error.message;
    EXPECT_EQ(p.out.password, "");
    EXPECT_FALSE(contains(p.out.redacted, "password")) << p.out.redacted;
    EXPECT_FALSE(contains(p.out.redacted, "****")) << p.out.redacted;
    EXPECT_TRUE(has_pair(p.out.redacted, "host=/var/run/postgresql")) << p.out.redacted;
}

TEST(ConninfoTest, EmptyConninfoIsValidAndHasNoOptions) {
    // libpq takes everything from the environment and defaults then; only what the string
    // sets is listed.
    const Parsed p = parse("");
    ASSERT_TRUE(p.error.ok()) << p.error.message;
    EXPECT_EQ(p.out.password, "");
    EXPECT_EQ(p.out.redacted, "");
}

TEST(ConninfoTest, QuotedAndEscapedPasswordsAreUnquoted) {
    struct Case {
        const char *conninfo;
        const char *password;
    };
    for (const Case &c : {
             Case{R"(host=h password='se cret\'s')", "se cret's"},
             Case{R"(password='with \\ backslash' host=h)", R"(with \ backslash)"},
             Case{R"(host=h password=a\\b\ c)", R"(a\b c)"},
             Case{"host=h password='p=w d' dbname=x", "p=w d"},
             Case{"host=h password=secret=with=eq", "secret=with=eq"},
             Case{"host=h password = spaced", "spaced"},
             Case{"host=h\tpassword=tabbed\n", "tabbed"},
             Case{"host=h password=\xc3\xa9t\xc3\xa9-\xe2\x9c\x93",
                  "\xc3\xa9t\xc3\xa9-\xe2\x9c\x93"},
         }) {
        SCOPED_TRACE(c.conninfo);
        const Parsed p = parse(c.conninfo);
        ASSERT_TRUE(p.error.ok()) << p.error.message;
        EXPECT_EQ(p.out.password, c.password);
        EXPECT_FALSE(contains(p.out.redacted, c.password)) << p.out.redacted;
        EXPECT_TRUE(contains(p.out.redacted, "password=********")) << p.out.redacted;
        EXPECT_TRUE(has_pair(p.out.redacted, "host=h")) << p.out.redacted;
    }
}

TEST(ConninfoTest, EmptyPasswordIsExtractedAsEmpty) {
    for (const char *conninfo :
         {"host=h password=''", "host=h password=", "postgresql://u:@h/db"}) {
        const Parsed p = parse(conninfo);
        ASSERT_TRUE(p.error.ok()) << conninfo << ": " << p.error.message;
        EXPECT_EQ(p.out.password, "") << conninfo;
    }
}

TEST(ConninfoTest, UriFormExtractsAndMasksThePassword) {
    struct Case {
        const char *conninfo;
        const char *password;
        std::vector<const char *> kept;
    };
    for (const Case &c : {
             Case{"postgresql://u:secret@h/db", "secret", {"user=u", "host=h", "dbname=db"}},
             Case{"postgres://app:hunter2@db.example:5433/appdb?sslmode=disable&connect_timeout=5",
                  "hunter2",
                  {"user=app", "host=db.example", "port=5433", "dbname=appdb", "sslmode=disable",
                   "connect_timeout=5"}},
             Case{"postgresql://u@h/db?password=qsecret", "qsecret", {"user=u", "dbname=db"}},
             Case{"postgresql://:nouser@h", "nouser", {"host=h"}},
             Case{"postgresql://u:p%40ss%20w%2Fd@h/db", "p@ss w/d", {"user=u"}},
             Case{"postgresql://u:secret@[::1]:5432/db", "secret", {"host=::1", "port=5432"}},
         }) {
        SCOPED_TRACE(c.conninfo);
        const Parsed p = parse(c.conninfo);
        ASSERT_TRUE(p.error.ok()) << p.error.message;
        EXPECT_EQ(p.out.password, c.password);
        EXPECT_FALSE(contains(p.out.redacted, c.password)) << p.out.redacted;
        EXPECT_TRUE(has_pair(p.out.redacted, "password=********")) << p.out.redacted;
        for (const char *kept : c.kept) {
            EXPECT_TRUE(has_pair(p.out.redacted, kept)) << kept << " in " << p.out.redacted;
        }
    }
}

TEST(ConninfoTest, PercentEncodedPasswordIsNotShownEncodedEither) {
    const Parsed p = parse("postgresql://u:p%40ssw0rd@h/db");
    ASSERT_TRUE(p.error.ok()) << p.error.message;
    EXPECT_EQ(p.out.password, "p@ssw0rd");
    EXPECT_FALSE(contains(p.out.redacted, "ssw0rd")) << p.out.redacted;
}

TEST(ConninfoTest, MalformedConninfoIsRefusedWithoutQuotingThePassword) {
    struct Case {
        const char *conninfo;
        const char *secret;
    };
    // libpq's own messages for the last three quote the input, password included.
    for (const Case &c : {
             Case{"host=h password='unterminated s3cr3t-A", "s3cr3t-A"},
             Case{"password=s3cr3t-B bogus", "s3cr3t-B"},
             Case{"password=s3cr3t-C frobnicate=1", "s3cr3t-C"},
             Case{"password=s3cr3t-D host", "s3cr3t-D"},
             Case{"postgresql://u:s3cr3t-E@h/db?nosuch=1", "s3cr3t-E"},
             Case{"postgresql://u:s3cr3t-F%zz@h/db", "s3cr3t-F"},
             Case{"postgresql://u:s3cr3t-G@[::1/db", "s3cr3t-G"},
             Case{"postgresql://u@h/db?password=s3cr3t-H&bogus", "s3cr3t-H"},
         }) {
        SCOPED_TRACE(c.conninfo);
        const Parsed p = parse(c.conninfo);
        EXPECT_FALSE(p.error.ok());
        EXPECT_EQ(p.error.status, CONNPOOL_ERR_INVALID_ARGUMENT);
        EXPECT_FALSE(p.error.message.empty());
        EXPECT_FALSE(contains(p.error.message, c.secret)) << p.error.message;
        EXPECT_FALSE(contains(p.error.message, "s3cr3t")) << p.error.message;
        EXPECT_TRUE(contains(p.error.message, "conninfo")) << p.error.message;
    }
}

TEST(ConninfoTest, OverlongConninfoIsRefusedAtTheLimitWithoutQuotingIt) {
    const std::string prefix = "password=s3cr3t-long application_name=";
    const size_t limit = 64 * 1024;
    std::string at_limit = prefix + std::string(limit - prefix.size(), 'a');
    ASSERT_EQ(at_limit.size(), limit);
    const Parsed ok = parse(at_limit);
    EXPECT_TRUE(ok.error.ok()) << ok.error.message;
    EXPECT_EQ(ok.out.password, "s3cr3t-long");

    const Parsed too_long = parse(at_limit + "a");
    EXPECT_EQ(too_long.error.status, CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(contains(too_long.error.message, "65536")) << too_long.error.message;
    EXPECT_FALSE(contains(too_long.error.message, "s3cr3t")) << too_long.error.message;
    EXPECT_LT(too_long.error.message.size(), 1000u);
}

TEST(ConninfoTest, ASuccessfulParseReplacesEarlierOutput) {
    ParsedConninfo out;
    ASSERT_TRUE(parse_conninfo("host=a password=first", out).ok());
    ASSERT_EQ(out.password, "first");
    ASSERT_TRUE(parse_conninfo("host=b", out).ok());
    EXPECT_EQ(out.password, "");
    EXPECT_EQ(out.redacted, "host=b");
}

TEST(ConninfoTest, SslKeyPasswordIsMaskedToo) {
    // libpq marks every secret option with dispchar "*", including "sslpassword" (the client
    // key's passphrase): it must not reach the redacted form that connpool_pool_create logs.
    const Parsed p = parse("host=h sslkey=/k.pem sslpassword=keyphrase password=pw");
    ASSERT_TRUE(p.error.ok()) << p.error.message;
    EXPECT_FALSE(contains(p.out.redacted, "keyphrase")) << p.out.redacted;
    EXPECT_TRUE(has_pair(p.out.redacted, "sslpassword=********")) << p.out.redacted;
}

// ---- redact ----------------------------------------------------------------------------------

TEST(RedactTest, ReplacesEveryOccurrence) {
    EXPECT_EQ(redact("password=hunter2 again hunter2!", "hunter2"),
              "password=******** again ********!");
    EXPECT_EQ(redact("hunter2", "hunter2"), "********");
    EXPECT_EQ(redact("xhunter2hunter2x", "hunter2"), "x****************x");
}

TEST(RedactTest, LeavesTextWithoutTheSecretUnchanged) {
    const std::string message =
        "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password "
        "authentication failed for user \"app\"";
    EXPECT_EQ(redact(message, "hunter2"), message);
    EXPECT_EQ(redact("", "hunter2"), "");
    EXPECT_EQ(redact("hunter", "hunter2"), "hunter");  // a prefix is not the secret
}

TEST(RedactTest, EmptySecretChangesNothing) {
    EXPECT_EQ(redact("any text", ""), "any text");
    EXPECT_EQ(redact("", ""), "");
}

TEST(RedactTest, SecretsLookingLikeTheMaskTerminate) {
    EXPECT_EQ(redact("a*b*c", "*"), "a********b********c");
    EXPECT_EQ(redact("********", "********"), "********");
    EXPECT_EQ(redact("x**", "**"), "x********");
}

TEST(RedactTest, OverlappingOccurrencesLeaveNoCopyOfTheSecret) {
    for (const auto &[text, secret] : std::vector<std::pair<std::string, std::string>>{
             {"aaaa", "aa"}, {"aaa", "aa"}, {"abababab", "abab"}, {"zzzzzzzzz", "zzz"}}) {
        const std::string out = redact(text, secret);
        EXPECT_FALSE(contains(out, secret)) << text << " / " << secret << " -> " << out;
    }
}

}  // namespace
}  // namespace connpool::testing
