// describe_connect_failure: libpq's verbose connect error -> message, SQLSTATE, permanent.
// The inputs are what libpq 15 (PQERRORS_VERBOSE, as PgConnector::connect sets it) printed
// against a PostgreSQL 15 server, byte for byte, except where noted.
#include <gtest/gtest.h>

#include <string>

#include "pg/connector.hpp"

namespace connpool::testing {
namespace {

ConnectFailure describe(const char *libpq_message) {
    ConnectFailure failure;
    describe_connect_failure(libpq_message, failure);
    return failure;
}

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

// Properties every description has: one line, no verbose-mode noise.
void expect_clean(const ConnectFailure &f) {
    EXPECT_FALSE(f.message.empty());
    EXPECT_FALSE(contains(f.message, "\n")) << f.message;
    EXPECT_FALSE(contains(f.message, "LOCATION")) << f.message;
    EXPECT_FALSE(contains(f.message, ".c:")) << f.message;  // source file and line
}

constexpr const char *kWrongPassword =
    "connection to server at \"127.0.0.1\", port 25300 failed: FATAL:  28P01: password "
    "authentication failed for user \"app\"\n"
    "LOCATION:  auth_failed, auth.c:334\n";

TEST(ConnectFailureTest, WrongPasswordIsPermanentWithItsSqlstate) {
    const ConnectFailure f = describe(kWrongPassword);
    expect_clean(f);
    EXPECT_EQ(f.sqlstate, "28P01");
    EXPECT_TRUE(f.permanent);
    EXPECT_TRUE(contains(f.message, "password authentication failed for user \"app\""))
        << f.message;
    EXPECT_TRUE(contains(f.message, "connection to server at \"127.0.0.1\", port 25300 failed"))
        << f.message;
    EXPECT_TRUE(contains(f.message, "FATAL:")) << f.message;
    // The SQLSTATE is lifted out of the text, not left in front of it.
    EXPECT_FALSE(contains(f.message, "28P01")) << f.message;
    EXPECT_FALSE(contains(f.message, "auth_failed")) << f.message;
}

TEST(ConnectFailureTest, WrongPasswordWithoutTheConnectionPrefix) {
    // The form in the brief (and of libpq before 14): the severity starts the line.
    const ConnectFailure f = describe(
        "FATAL:  28P01: password authentication failed for user \"app\"\n"
        "LOCATION:  auth_failed, auth.c:326\n");
    expect_clean(f);
    EXPECT_EQ(f.sqlstate, "28P01");
    EXPECT_TRUE(f.permanent);
    EXPECT_EQ(f.message, "FATAL:  password authentication failed for user \"app\"");
}

TEST(ConnectFailureTest, UnknownRoleIsPermanent) {
    const ConnectFailure f = describe(
        "connection to server on socket \"/tmp/pg/sock/.s.PGSQL.25300\" failed: FATAL:  28000: "
        "role \"ghost\" does not exist\n"
        "LOCATION:  InitializeSessionUserId, miscinit.c:768\n");
    expect_clean(f);
    EXPECT_EQ(f.sqlstate, "28000");
    EXPECT_TRUE(f.permanent);
    EXPECT_TRUE(contains(f.message, "role \"ghost\" does not exist")) << f.message;
    EXPECT_FALSE(contains(f.message, "28000")) << f.message;
}

TEST(ConnectFailureTest, NoPgHbaEntryIsPermanent) {
    // Server text of PostgreSQL 15 (ClientAuthentication), libpq 15 framing.
    const ConnectFailure f = describe(
        "connection to server at \"10.0.0.7\", port 5432 failed: FATAL:  28000: no pg_hba.conf "
        "entry for host \"10.0.0.5\", user \"app\", database \"app\", no encryption\n"
        "LOCATION:  ClientAuthentication, auth.c:540\n");
    expect_clean(f);
    EXPECT_EQ(f.sqlstate, "28000");
    EXPECT_TRUE(f.permanent);
    EXPECT_TRUE(contains(f.message, "no pg_hba.conf entry for host \"10.0.0.5\"")) << f.message;
}

TEST(ConnectFailureTest, UnknownDatabaseIsPermanent) {
    const ConnectFailure f = describe(
        "connection to server at \"127.0.0.1\", port 25300 failed: FATAL:  3D000: database "
        "\"nope\" does not exist\n"
        "LOCATION:  InitPostgres, postinit.c:948\n");
    expect_clean(f);
    EXPECT_EQ(f.sqlstate, "3D000");
    EXPECT_TRUE(f.permanent);
    EXPECT_TRUE(contains(f.message, "database \"nope\" does not exist")) << f.message;
    EXPECT_FALSE(contains(f.message, "3D000")) << f.message;
}

TEST(ConnectFailureTest, ServerDownIsNotPermanentAndKeepsBothLines) {
    const ConnectFailure f = describe(
        "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n"
        "\tIs the server running on that host and accepting TCP/IP connections?\n");
    expect_clean(f);
    EXPECT_EQ(f.sqlstate, "");
    EXPECT_FALSE(f.permanent);
    EXPECT_TRUE(contains(f.message, "port 1 failed: Connection refused")) << f.message;
    EXPECT_TRUE(
        contains(f.message, "Is the server running on that host and accepting TCP/IP connections?"))
        << f.message;
    // The first line comes first.
    EXPECT_LT(f.message.find("Connection refused"), f.message.find("Is the server running"));
}

TEST(ConnectFailureTest, MissingSocketAndUnknownHostAreNotPermanent) {
    for (const char *message : {
             "connection to server on socket \"/nonexistent/.s.PGSQL.5432\" failed: No such file "
             "or directory\n\tIs the server running locally and accepting connections on that "
             "socket?\n",
             "could not translate host name \"nosuchhost.invalid\" to address: Name or service "
             "not known\n",
             "connection to server at \"127.0.0.1\", port 25300 failed: server does not support "
             "SSL, but SSL was required\n",
         }) {
        const ConnectFailure f = describe(message);
        expect_clean(f);
        EXPECT_EQ(f.sqlstate, "") << message;
        EXPECT_FALSE(f.permanent) << message;
    }
}

TEST(ConnectFailureTest, TransientServerErrorsKeepTheirSqlstateAndAreNotPermanent) {
    struct Case {
        const char *message;
        const char *sqlstate;
    };
    for (const Case &c : {
             // Constructed from PostgreSQL 15 texts: max_connections reached (InitProcess)
             Case{"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  53300: sorry, "
                  "too many clients already\nLOCATION:  InitProcess, proc.c:362\n",
                  "53300"},
             // startup and shutdown (ProcessStartupPacket)
             Case{"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  57P03: the "
                  "database system is starting up\nLOCATION:  ProcessStartupPacket, "
                  "postmaster.c:2460\n",
                  "57P03"},
             Case{"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  57P03: the "
                  "database system is shutting down\nLOCATION:  ProcessStartupPacket, "
                  "postmaster.c:2464\n",
                  "57P03"},
             // recorded: options='-c nosuch=1'
             Case{"connection to server at \"127.0.0.1\", port 25300 failed: FATAL:  42704: "
                  "unrecognized configuration parameter \"nosuch\"\nLOCATION:  find_option, "
                  "guc.c:5734\n",
                  "42704"},
         }) {
        const ConnectFailure f = describe(c.message);
        expect_clean(f);
        EXPECT_EQ(f.sqlstate, c.sqlstate) << c.message;
        EXPECT_FALSE(f.permanent) << c.message;
        EXPECT_FALSE(contains(f.message, std::string(c.sqlstate) + ":")) << f.message;
    }
}

TEST(ConnectFailureTest, ErrorSeverityIsParsedLikeFatal) {
    // Constructed: the same failure reported with severity ERROR.
    const ConnectFailure f = describe(
        "connection to server at \"db\", port 5432 failed: ERROR:  28P01: password "
        "authentication failed for user \"app\"\nLOCATION:  auth_failed, auth.c:334\n");
    expect_clean(f);
    EXPECT_EQ(f.sqlstate, "28P01");
    EXPECT_TRUE(f.permanent);
    EXPECT_TRUE(contains(f.message, "ERROR:  password authentication failed")) << f.message;
}

TEST(ConnectFailureTest, TerseMessageWithoutSqlstateIsNotPermanent) {
    // Default verbosity: no SQLSTATE, so nothing proves the failure is permanent.
    const ConnectFailure f = describe(
        "connection to server at \"127.0.0.1\", port 25300 failed: FATAL:  password "
        "authentication failed for user \"app\"\n");
    expect_clean(f);
    EXPECT_EQ(f.sqlstate, "");
    EXPECT_FALSE(f.permanent);
    EXPECT_EQ(f.message,
              "connection to server at \"127.0.0.1\", port 25300 failed: FATAL:  password "
              "authentication failed for user \"app\"");
}

TEST(ConnectFailureTest, SeveralHostsOneRefusedOneRejectingThePassword) {
    // Recorded: host=127.0.0.1,127.0.0.1 port=1,25300 password=wrong
    const ConnectFailure f = describe(
        "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n"
        "\tIs the server running on that host and accepting TCP/IP connections?\n"
        "connection to server at \"127.0.0.1\", port 25300 failed: FATAL:  28P01: password "
        "authentication failed for user \"postgres\"\n"
        "LOCATION:  auth_failed, auth.c:334\n");
    expect_clean(f);
    EXPECT_EQ(f.sqlstate, "28P01");
    EXPECT_TRUE(f.permanent);
    EXPECT_TRUE(contains(f.message, "port 1 failed: Connection refused")) << f.message;
    EXPECT_TRUE(contains(f.message, "password authentication failed for user \"postgres\""))
        << f.message;
}

TEST(ConnectFailureTest, EverySqlstatePrefixIsStripped) {
    // Constructed: two hosts, each failing with its own SQLSTATE.
    const ConnectFailure f = describe(
        "connection to server at \"a\", port 5432 failed: FATAL:  57P03: the database system "
        "is starting up\nLOCATION:  ProcessStartupPacket, postmaster.c:2460\n"
        "connection to server at \"b\", port 5432 failed: FATAL:  3D000: database \"x\" does "
        "not exist\nLOCATION:  InitPostgres, postinit.c:948\n");
    expect_clean(f);
    EXPECT_FALSE(contains(f.message, "57P03")) << f.message;
    EXPECT_FALSE(contains(f.message, "3D000")) << f.message;
    EXPECT_TRUE(contains(f.message, "the database system is starting up")) << f.message;
    EXPECT_TRUE(contains(f.message, "database \"x\" does not exist")) << f.message;
    // Which one is reported is not specified; `permanent` follows the one reported.
    EXPECT_TRUE(f.sqlstate == "57P03" || f.sqlstate == "3D000") << f.sqlstate;
    EXPECT_EQ(f.permanent, f.sqlstate == "3D000");
}

TEST(ConnectFailureTest, DetailAndHintLinesAreKept) {
    // Constructed from PostgreSQL 15 texts (pg_hba with a host name, log_hostname on).
    const ConnectFailure f = describe(
        "connection to server at \"db\", port 5432 failed: FATAL:  28000: no pg_hba.conf entry "
        "for host \"10.0.0.5\", user \"app\", database \"app\", SSL off\n"
        "DETAIL:  Client IP address resolved to \"app-1\", forward lookup matches.\n"
        "HINT:  Check pg_hba.conf.\n"
        "LOCATION:  ClientAuthentication, auth.c:540\n");
    expect_clean(f);
    EXPECT_TRUE(f.permanent);
    EXPECT_TRUE(contains(f.message, "DETAIL:  Client IP address resolved")) << f.message;
    EXPECT_TRUE(contains(f.message, "HINT:  Check pg_hba.conf.")) << f.message;
}

TEST(ConnectFailureTest, NullEmptyOrLocationOnlyGiveAGenericMessage) {
    for (const char *message :
         {static_cast<const char *>(nullptr), "", "\n", "LOCATION:  auth_failed, auth.c:334\n"}) {
        const ConnectFailure f = describe(message);
        EXPECT_EQ(f.message, "connection failed") << (message ? message : "(null)");
        EXPECT_EQ(f.sqlstate, "");
        EXPECT_FALSE(f.permanent);
    }
}

TEST(ConnectFailureTest, MessageWithoutTrailingNewlineKeepsItsLastLine) {
    const ConnectFailure f = describe("timeout expired");
    EXPECT_EQ(f.message, "timeout expired");
    EXPECT_FALSE(f.permanent);
}

TEST(ConnectFailureTest, ShortOrMalformedCodesAreNotTakenForSqlstates) {
    // A severity followed by text too short to hold "XXXXX: x" must neither crash nor be cut.
    for (const char *message : {"FATAL:  ", "FATAL:  28P01", "FATAL:  28P01:"}) {
        const ConnectFailure f = describe(message);
        EXPECT_EQ(f.sqlstate, "") << message;
        EXPECT_FALSE(f.permanent) << message;
        EXPECT_EQ(f.message, message);
    }
}

}  // namespace
}  // namespace connpool::testing
