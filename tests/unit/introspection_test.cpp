// The C API's descriptions of its own facts (options, statistics, statuses), which the bindings
// and the README tables are derived from: they must agree with what the library does.
#include <cstring>
#include <set>
#include <string>

#include "core/stats.hpp"
#include "pg/settings.hpp"
#include "test_support.hpp"

namespace connpool::testing {
namespace {

connpool_option_info describe_option(int32_t index) {
    connpool_option_info info{};
    info.struct_size = sizeof info;
    EXPECT_EQ(connpool_option_describe(&info, index, nullptr), CONNPOOL_OK) << index;
    return info;
}

connpool_stats_field describe_field(int32_t index) {
    connpool_stats_field field{};
    field.struct_size = sizeof field;
    EXPECT_EQ(connpool_stats_field_describe(&field, index, nullptr), CONNPOOL_OK) << index;
    return field;
}

TEST(OptionIntrospection, EveryOptionIsDescribedOnceWithAValidDefault) {
    const int32_t count = connpool_option_count();
    ASSERT_EQ(count, static_cast<int32_t>(option_catalog().size()));
    ASSERT_GE(count, 21);
    std::set<std::string> keys;
    connpool_options *opts = make_options({});
    for (int32_t i = 0; i < count; ++i) {
        const connpool_option_info info = describe_option(i);
        ASSERT_NE(info.key, nullptr);
        EXPECT_TRUE(keys.insert(info.key).second) << "duplicate key " << info.key;
        EXPECT_GT(std::strlen(info.description), 10u) << info.key;
        EXPECT_GE(info.kind, CONNPOOL_OPTION_INTEGER) << info.key;
        EXPECT_LE(info.kind, CONNPOOL_OPTION_CHOICE) << info.key;
        EXPECT_LE(info.min, info.max) << info.key;
        ASSERT_NE(info.choices, nullptr);
        EXPECT_EQ(info.kind == CONNPOOL_OPTION_CHOICE, info.choices[0] != '\0') << info.key;
        if (info.kind == CONNPOOL_OPTION_INTEGER || info.kind == CONNPOOL_OPTION_DURATION_MS) {
            const int64_t value = std::stoll(info.default_value);
            EXPECT_GE(value, info.min) << info.key;
            EXPECT_LE(value, info.max) << info.key;
        }
        // The default is accepted back.
        ErrorBox error;
        EXPECT_EQ(connpool_options_set(opts, info.key, info.default_value, error.out()),
                  CONNPOOL_OK)
            << info.key << "=" << info.default_value << ": " << error.message();
    }
    connpool_options_free(opts);
    for (const char *key : {"max_size", "acquire_timeout", "pre_ping", "reset_query",
                            "statement_cache_size", "log_level"}) {
        EXPECT_EQ(keys.count(key), 1u) << key;
    }
}

TEST(OptionIntrospection, KindsAndRangesAreTheOnesTheSetterEnforces) {
    for (int32_t i = 0; i < connpool_option_count(); ++i) {
        const connpool_option_info info = describe_option(i);
        connpool_options *opts = make_options({});
        ErrorBox error;
        switch (info.kind) {
            case CONNPOOL_OPTION_INTEGER:
            case CONNPOOL_OPTION_DURATION_MS:
                EXPECT_EQ(connpool_options_set(opts, info.key, std::to_string(info.max).c_str(),
                                               error.out()),
                          CONNPOOL_OK)
                    << info.key;
                EXPECT_EQ(connpool_options_set(opts, info.key, std::to_string(info.max + 1).c_str(),
                                               error.out()),
                          CONNPOOL_ERR_INVALID_ARGUMENT)
                    << info.key;
                EXPECT_NE(error.message().find(info.key), std::string::npos);
                if (info.kind == CONNPOOL_OPTION_DURATION_MS) {
                    EXPECT_NE(error.message().find("milliseconds"), std::string::npos);
                }
                break;
            case CONNPOOL_OPTION_BOOLEAN:
                EXPECT_EQ(connpool_options_set(opts, info.key, "off", error.out()), CONNPOOL_OK);
                EXPECT_EQ(connpool_options_set(opts, info.key, "maybe", error.out()),
                          CONNPOOL_ERR_INVALID_ARGUMENT);
                break;
            case CONNPOOL_OPTION_STRING: {
                const std::string longest(static_cast<size_t>(info.max), 'x');
                EXPECT_EQ(connpool_options_set(opts, info.key, longest.c_str(), error.out()),
                          CONNPOOL_OK)
                    << info.key;
                EXPECT_EQ(
                    connpool_options_set(opts, info.key, (longest + "x").c_str(), error.out()),
                    CONNPOOL_ERR_INVALID_ARGUMENT)
                    << info.key;
                break;
            }
            case CONNPOOL_OPTION_CHOICE: {
                const std::string choices = info.choices;
                const std::string first = choices.substr(0, choices.find(','));
                EXPECT_EQ(connpool_options_set(opts, info.key, first.c_str(), error.out()),
                          CONNPOOL_OK);
                EXPECT_EQ(connpool_options_set(opts, info.key, "no-such-word", error.out()),
                          CONNPOOL_ERR_INVALID_ARGUMENT);
                EXPECT_NE(error.message().find(first), std::string::npos) << error.message();
                break;
            }
            default:
                ADD_FAILURE() << info.key << " has kind " << info.kind;
        }
        connpool_options_free(opts);
    }
}

TEST(OptionIntrospection, UnknownKeyMessageListsEveryDescribedKey) {
    connpool_options *opts = make_options({});
    ErrorBox error;
    ASSERT_EQ(connpool_options_set(opts, "no_such_option", "1", error.out()),
              CONNPOOL_ERR_UNKNOWN_OPTION);
    for (int32_t i = 0; i < connpool_option_count(); ++i) {
        EXPECT_NE(error.message().find(describe_option(i).key), std::string::npos);
    }
    connpool_options_free(opts);
}

TEST(OptionIntrospection, BadCallsAreRefusedAndShortStructsNotOverrun) {
    connpool_option_info info{};
    info.struct_size = sizeof info;
    EXPECT_EQ(connpool_option_describe(&info, -1, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_option_describe(&info, connpool_option_count(), nullptr),
              CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_option_describe(nullptr, 0, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    info.struct_size = 4;
    EXPECT_EQ(connpool_option_describe(&info, 0, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);

    // A caller that knows only the first fields (an older header) gets only those.
    struct {
        connpool_option_info info;
        unsigned char guard[16];
    } old{};
    std::memset(&old, 0xAB, sizeof old);
    old.info.struct_size = offsetof(connpool_option_info, default_value);
    ASSERT_EQ(connpool_option_describe(&old.info, 0, nullptr), CONNPOOL_OK);
    EXPECT_STREQ(old.info.key, describe_option(0).key);
    const auto *bytes = reinterpret_cast<const unsigned char *>(&old.info);
    for (size_t i = offsetof(connpool_option_info, default_value); i < sizeof old; ++i) {
        ASSERT_EQ(bytes[i], 0xAB) << "byte " << i << " written past struct_size";
    }
}

TEST(StatsIntrospection, FieldsDescribeConnpoolStatsExactly) {
    const int32_t count = connpool_stats_field_count();
    ASSERT_EQ(count, kStatFieldCount);
    EXPECT_EQ(sizeof(connpool_stats), offsetof(connpool_stats, total) + count * sizeof(int64_t));
    std::set<std::string> names;
    for (int32_t i = 0; i < count; ++i) {
        const connpool_stats_field field = describe_field(i);
        EXPECT_TRUE(names.insert(field.name).second) << field.name;
        EXPECT_EQ(field.offset, offsetof(connpool_stats, total) + i * sizeof(int64_t));
        EXPECT_TRUE(field.kind == CONNPOOL_STAT_GAUGE || field.kind == CONNPOOL_STAT_COUNTER);
        EXPECT_GT(std::strlen(field.description), 5u) << field.name;
    }
    EXPECT_EQ(describe_field(0).offset, offsetof(connpool_stats, total));
    EXPECT_STREQ(describe_field(0).name, "total");
    EXPECT_EQ(describe_field(count - 1).offset, sizeof(connpool_stats) - sizeof(int64_t));
    connpool_stats_field field{};
    field.struct_size = sizeof field;
    EXPECT_EQ(connpool_stats_field_describe(&field, count, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(connpool_stats_field_describe(&field, -1, nullptr), CONNPOOL_ERR_INVALID_ARGUMENT);
}

TEST(StatsIntrospection, JsonAndStructAgreeFieldByField) {
    auto server = std::make_shared<FakeServer>();
    connpool_pool *pool = make_fake_pool(server, {{"max_size", "3"}, {"min_size", "1"}});
    ASSERT_EQ(connpool_pool_wait_ready(pool, 5000, nullptr), CONNPOOL_OK);
    connpool_lease *lease = nullptr;
    ASSERT_EQ(connpool_pool_acquire(&lease, pool, 1000, nullptr), CONNPOOL_OK);
    ASSERT_EQ(connpool_lease_release(lease, nullptr), CONNPOOL_OK);
    const connpool_stats s = stats_of(pool);
    char *json = nullptr;
    ASSERT_EQ(connpool_pool_stats_json(&json, pool, nullptr), CONNPOOL_OK);
    const std::string text = json;
    connpool_string_free(json);
    size_t at = 0;
    for (int32_t i = 0; i < connpool_stats_field_count(); ++i) {
        const connpool_stats_field field = describe_field(i);
        int64_t value = 0;
        std::memcpy(&value, reinterpret_cast<const char *>(&s) + field.offset, sizeof value);
        const std::string entry = "\"" + std::string(field.name) + "\": " + std::to_string(value);
        const size_t found = text.find(entry, at);
        ASSERT_NE(found, std::string::npos) << entry << " in order in " << text;
        at = found + entry.size();
    }
    EXPECT_EQ(s.max_size, 3);
    EXPECT_EQ(s.acquired, 1);
    connpool_pool_free(pool);
}

TEST(StatusIntrospection, EveryStatusHasANameAndADescription) {
    std::set<std::string> descriptions;
    for (connpool_status status = CONNPOOL_OK; status <= CONNPOOL_ERR_CONFLICT; ++status) {
        EXPECT_STRNE(connpool_status_name(status), "CONNPOOL_UNKNOWN_STATUS") << status;
        EXPECT_TRUE(descriptions.insert(connpool_status_description(status)).second) << status;
    }
    EXPECT_STREQ(connpool_status_name(CONNPOOL_ERR_CONFLICT + 1), "CONNPOOL_UNKNOWN_STATUS");
    EXPECT_STREQ(connpool_status_name(-1), "CONNPOOL_UNKNOWN_STATUS");
    EXPECT_STREQ(connpool_status_description(CONNPOOL_ERR_POOL_CLOSED),
                 "the pool was closed or freed");
    EXPECT_NE(connpool_status_description(9999), nullptr);
}

}  // namespace
}  // namespace connpool::testing
