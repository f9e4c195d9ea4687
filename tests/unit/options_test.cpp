// Option validation through the C API: every bad key or value is refused with a message that
// names the key and what it accepts; nothing is changed by a refused set.
#include "test_support.hpp"

namespace connpool::testing {
namespace {

class OptionsTest : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_EQ(connpool_options_new(&opts_, nullptr), CONNPOOL_OK); }
    void TearDown() override { EXPECT_EQ(connpool_options_free(opts_), CONNPOOL_OK); }
    connpool_status set(const char *key, const char *value) {
        return connpool_options_set(opts_, key, value, error_.out());
    }
    connpool_options *opts_ = nullptr;
    ErrorBox error_;
};

TEST_F(OptionsTest, AcceptsValidValuesAtTheEdgesOfTheirRanges) {
    EXPECT_EQ(set("max_size", "1"), CONNPOOL_OK);
    EXPECT_EQ(set("max_size", "10000"), CONNPOOL_OK);
    EXPECT_EQ(set("min_size", "0"), CONNPOOL_OK);
    EXPECT_EQ(set("acquire_timeout", "0"), CONNPOOL_OK);
    EXPECT_EQ(set("max_lifetime", "0"), CONNPOOL_OK);
    EXPECT_EQ(set("reset_query", "DISCARD ALL"), CONNPOOL_OK);
    EXPECT_EQ(set("log_level", "debug"), CONNPOOL_OK);
    for (const char *b : {"on", "off", "true", "false", "yes", "no", "1", "0"}) {
        EXPECT_EQ(set("pre_ping", b), CONNPOOL_OK) << b;
    }
}

TEST_F(OptionsTest, UnknownKeyIsNamedAndKnownKeysAreListed) {
    EXPECT_EQ(set("max_sise", "4"), CONNPOOL_ERR_UNKNOWN_OPTION);
    EXPECT_EQ(error_.status(), CONNPOOL_ERR_UNKNOWN_OPTION);
    EXPECT_NE(error_.message().find("\"max_sise\""), std::string::npos) << error_.message();
    EXPECT_NE(error_.message().find("max_size"), std::string::npos) << error_.message();
}

TEST_F(OptionsTest, OutOfRangeAndMalformedValuesNameTheKeyAndTheRange) {
    struct Case {
        const char *key, *value, *expected;
    };
    for (const Case &c : std::initializer_list<Case>{
             {"max_size", "0", "from 1 to 10000"},
             {"max_size", "-3", "from 1 to 10000"},
             {"max_size", "10001", "from 1 to 10000"},
             {"max_size", "4x", "from 1 to 10000"},
             {"max_size", "", "from 1 to 10000"},
             {"max_size", "99999999999999999999999", "from 1 to 10000"},
             {"acquire_timeout", "-1", "milliseconds"},
             {"connect_timeout", "0", "from 1 to"},
             {"pre_ping", "maybe", "on/off"},
             {"log_level", "loud", "trace, debug"},
         }) {
        EXPECT_EQ(set(c.key, c.value), CONNPOOL_ERR_INVALID_ARGUMENT) << c.key << "=" << c.value;
        EXPECT_NE(error_.message().find(std::string("\"") + c.key + "\""), std::string::npos)
            << error_.message();
        EXPECT_NE(error_.message().find(c.expected), std::string::npos) << error_.message();
    }
}

TEST_F(OptionsTest, HugeValuesAreRefusedAndNotEchoedInFull) {
    const std::string huge(100000, 'x');
    EXPECT_EQ(set("reset_query", huge.c_str()), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_LT(error_.message().size(), 300u);
    EXPECT_EQ(set("max_size", huge.c_str()), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_LT(error_.message().size(), 300u);
}

TEST_F(OptionsTest, NullArgumentsAreReportedByName) {
    EXPECT_EQ(connpool_options_set(opts_, nullptr, "1", error_.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error_.message().find("\"key\""), std::string::npos);
    EXPECT_EQ(connpool_options_set(opts_, "max_size", nullptr, error_.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_NE(error_.message().find("\"value\""), std::string::npos);
    EXPECT_EQ(connpool_options_set(nullptr, "max_size", "1", error_.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_options_new(nullptr, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
}

TEST(OptionsLifetime, DoubleFreeAndUseAfterFreeAreDetected) {
    connpool_options *opts = nullptr;
    ASSERT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
    EXPECT_EQ(connpool_options_free(opts), CONNPOOL_OK);
    EXPECT_EQ(connpool_options_free(opts), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_options_set(opts, "max_size", "2", nullptr), CONNPOOL_ERR_INVALID_HANDLE);
    EXPECT_EQ(connpool_options_free(nullptr), CONNPOOL_OK);
}

TEST(OptionsAtCreate, MinSizeAboveMaxSizeIsRefused) {
    auto server = std::make_shared<FakeServer>();
    connpool_options *opts = make_options({{"min_size", "5"}, {"max_size", "2"}});
    connpool_pool *pool = nullptr;
    ErrorBox error;
    EXPECT_EQ(capi::create_pool(&pool, std::make_unique<FakeConnector>(server), opts, error.out()),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(pool, nullptr);
    EXPECT_NE(error.message().find("min_size"), std::string::npos) << error.message();
    connpool_options_free(opts);
}

TEST(ErrorsApi, StatusNamesArePinned) {
    EXPECT_STREQ(connpool_status_name(CONNPOOL_OK), "CONNPOOL_OK");
    EXPECT_STREQ(connpool_status_name(4), "CONNPOOL_ERR_TIMEOUT");
    EXPECT_STREQ(connpool_status_name(2), "CONNPOOL_ERR_INVALID_HANDLE");
    EXPECT_STREQ(connpool_status_name(12345), "CONNPOOL_UNKNOWN_STATUS");
    EXPECT_STREQ(connpool_error_message(nullptr), "");
    EXPECT_EQ(connpool_version_number(), CONNPOOL_VERSION_NUMBER);
    EXPECT_STREQ(connpool_version(), CONNPOOL_VERSION_STRING);
}

TEST(ErrorsApi, AnErrorAlreadyPresentIsNotOverwrittenOrLeaked) {
    ErrorBox error;
    connpool_error **slot = error.out();
    EXPECT_EQ(connpool_options_new(nullptr, slot), CONNPOOL_ERR_INVALID_ARGUMENT);
    const std::string first = connpool_error_message(*slot);
    EXPECT_EQ(connpool_options_set(nullptr, "k", "v", slot), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_error_message(*slot), first);
}

}  // namespace
}  // namespace connpool::testing
