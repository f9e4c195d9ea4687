// json_escape and stats_to_json (connpool_pool_stats_json). The output is checked by parsing
// it with a small strict JSON parser (RFC 8259) below, not by comparing strings.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connpool/connpool.h"
#include "core/stats_json.hpp"

namespace connpool::testing {
namespace {

// ---- a strict JSON parser, enough for these tests ----------------------------------------------

struct Json;
using JsonObject = std::vector<std::pair<std::string, Json>>;  // in order, duplicates kept
using JsonArray = std::vector<Json>;
struct Json {
    enum class Kind { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean_value = false;
    std::string text;  // a number's literal text, or a string's decoded value
    std::shared_ptr<JsonArray> array;
    std::shared_ptr<JsonObject> members;

    static Json make(Kind kind, std::string text = {}) {
        Json j;
        j.kind = kind;
        j.text = std::move(text);
        return j;
    }
    static Json make_bool(bool b) {
        Json j = make(Kind::boolean);
        j.boolean_value = b;
        return j;
    }
    bool is_number() const { return kind == Kind::number; }
    bool is_string() const { return kind == Kind::string; }
    bool is_bool() const { return kind == Kind::boolean; }
    const std::string &number() const { return text; }
    const std::string &string() const { return text; }
    bool boolean() const { return boolean_value; }
    const JsonObject *object() const { return kind == Kind::object ? members.get() : nullptr; }
};

class JsonParser {
  public:
    explicit JsonParser(std::string_view text) : text_(text) {}

    // The whole text must be exactly one value (whitespace around it allowed).
    std::optional<Json> parse_document() {
        std::optional<Json> v = parse_value();
        skip_ws();
        if (!v || pos_ != text_.size()) {
            error_ = error_.empty() ? "trailing characters" : error_;
            return std::nullopt;
        }
        return v;
    }
    // Parses the inside of a string literal (without quotes), as if it were quoted.
    static std::optional<std::string> unescape(std::string_view inside) {
        const std::string quoted = "\"" + std::string(inside) + "\"";
        JsonParser p(quoted);
        std::optional<Json> v = p.parse_document();
        if (!v || !v->is_string()) return std::nullopt;
        return v->string();
    }
    const std::string &error() const { return error_; }
    size_t position() const { return pos_; }

  private:
    std::optional<Json> fail(const char *why) {
        if (error_.empty()) error_ = why;
        return std::nullopt;
    }
    void skip_ws() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r')) {
            ++pos_;
        }
    }
    bool take(char c) {
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    bool take_word(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }
    std::optional<Json> parse_value() {
        if (++depth_ > 64) return fail("too deep");
        skip_ws();
        std::optional<Json> v;
        if (pos_ >= text_.size()) {
            v = fail("unexpected end");
        } else if (text_[pos_] == '{') {
            v = parse_object();
        } else if (text_[pos_] == '[') {
            v = parse_array();
        } else if (text_[pos_] == '"') {
            std::optional<std::string> s = parse_string();
            if (s) v = Json::make(Json::Kind::string, std::move(*s));
        } else if (take_word("true")) {
            v = Json::make_bool(true);
        } else if (take_word("false")) {
            v = Json::make_bool(false);
        } else if (take_word("null")) {
            v = Json::make(Json::Kind::null);
        } else {
            v = parse_number();
        }
        --depth_;
        return v;
    }
    std::optional<Json> parse_number() {
        const size_t start = pos_;
        take('-');
        if (take('0')) {
        } else if (pos_ < text_.size() && text_[pos_] >= '1' && text_[pos_] <= '9') {
            while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])))
                ++pos_;
        } else {
            return fail("bad value");
        }
        if (take('.')) {
            if (!digits()) return fail("bad fraction");
        }
        if (take('e') || take('E')) {
            if (!take('+')) take('-');
            if (!digits()) return fail("bad exponent");
        }
        return Json::make(Json::Kind::number, std::string(text_.substr(start, pos_ - start)));
    }
    bool digits() {
        const size_t start = pos_;
        while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
        return pos_ > start;
    }
    std::optional<unsigned> hex4() {
        if (pos_ + 4 > text_.size()) return std::nullopt;
        unsigned v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') {
                v |= static_cast<unsigned>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                v |= static_cast<unsigned>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                v |= static_cast<unsigned>(c - 'A' + 10);
            } else {
                return std::nullopt;
            }
        }
        return v;
    }
    static void append_utf8(std::string &out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }
    std::optional<std::string> parse_string() {
        if (!take('"')) return std::nullopt;
        std::string out;
        while (true) {
            if (pos_ >= text_.size()) {
                fail("unterminated string");
                return std::nullopt;
            }
            const char c = text_[pos_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) {
                fail("raw control character in string");
                return std::nullopt;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) {
                fail("unterminated escape");
                return std::nullopt;
            }
            const char e = text_[pos_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out += e;
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    std::optional<unsigned> cp = hex4();
                    if (!cp) {
                        fail("bad \\u escape");
                        return std::nullopt;
                    }
                    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
                        std::optional<unsigned> low;
                        if (!take('\\') || !take('u') || !(low = hex4()) || *low < 0xDC00 ||
                            *low > 0xDFFF) {
                            fail("unpaired surrogate");
                            return std::nullopt;
                        }
                        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
                    } else if (*cp >= 0xDC00 && *cp <= 0xDFFF) {
                        fail("unpaired surrogate");
                        return std::nullopt;
                    }
                    append_utf8(out, *cp);
                    break;
                }
                default:
                    fail("bad escape");
                    return std::nullopt;
            }
        }
    }
    std::optional<Json> parse_array() {
        take('[');
        auto array = std::make_shared<JsonArray>();
        skip_ws();
        if (!take(']')) {
            do {
                std::optional<Json> v = parse_value();
                if (!v) return std::nullopt;
                array->push_back(std::move(*v));
                skip_ws();
            } while (take(','));
            if (!take(']')) return fail("expected , or ]");
        }
        Json j = Json::make(Json::Kind::array);
        j.array = std::move(array);
        return j;
    }
    std::optional<Json> parse_object() {
        take('{');
        auto object = std::make_shared<JsonObject>();
        skip_ws();
        if (!take('}')) {
            do {
                skip_ws();
                std::optional<std::string> key = parse_string();
                if (!key) return fail("expected a key");
                skip_ws();
                if (!take(':')) return fail("expected :");
                std::optional<Json> v = parse_value();
                if (!v) return std::nullopt;
                object->emplace_back(std::move(*key), std::move(*v));
                skip_ws();
            } while (take(','));
            if (!take('}')) return fail("expected , or }");
        }
        Json j = Json::make(Json::Kind::object);
        j.members = std::move(object);
        return j;
    }

    std::string_view text_;
    size_t pos_ = 0;
    int depth_ = 0;
    std::string error_;
};

std::optional<Json> parse_json(const std::string &text) {
    JsonParser p(text);
    std::optional<Json> v = p.parse_document();
    EXPECT_TRUE(v.has_value()) << p.error() << " at " << p.position() << " in " << text;
    return v;
}

// The parser itself must reject what is not JSON, or the tests below prove nothing.
TEST(JsonTestParser, RejectsInvalidJson) {
    for (const char *bad :
         {"", "{", "{\"a\": 1", "{\"a\" 1}", "{\"a\": 1,}", "{a: 1}", "\"\x01\"", "\"\\x\"",
          "\"\\u12\"", "01", "1.", "[1 2]", "{} {}", "\"\n\"", "\"\\ud800\"", "tru"}) {
        JsonParser p(bad);
        EXPECT_FALSE(p.parse_document().has_value()) << bad;
    }
    for (const char *good : {"{}", "[]", "{\"a\": [1, -2.5e3, true, false, null, \"x\"]}",
                             "\"\\u00e9\\ud83d\\ude00\\n\""}) {
        JsonParser p(good);
        EXPECT_TRUE(p.parse_document().has_value()) << good << ": " << p.error();
    }
}

// ---- json_escape -------------------------------------------------------------------------------

TEST(JsonEscapeTest, PlainTextIsUnchanged) {
    EXPECT_EQ(json_escape(""), "");
    EXPECT_EQ(json_escape("pool-1 main_db (replica) 100% ok/fine {x} [y] 'z'"),
              "pool-1 main_db (replica) 100% ok/fine {x} [y] 'z'");
}

TEST(JsonEscapeTest, QuotesAndBackslashesAreEscaped) {
    EXPECT_EQ(json_escape("\""), "\\\"");
    EXPECT_EQ(json_escape("\\"), "\\\\");
    EXPECT_EQ(json_escape(R"(say "hi" \ C:\dir\)"), R"(say \"hi\" \\ C:\\dir\\)");
    EXPECT_EQ(json_escape("\\\""), "\\\\\\\"");  // a backslash then a quote
}

TEST(JsonEscapeTest, NewlineAndTabUseTheirShortEscapes) {
    EXPECT_EQ(json_escape("a\nb\tc"), "a\\nb\\tc");
}

TEST(JsonEscapeTest, OtherControlCharactersUseUnicodeEscapes) {
    for (int c = 0; c < 0x20; ++c) {
        if (c == '\n' || c == '\t') continue;
        const std::string in(1, static_cast<char>(c));
        const std::string out = json_escape(in);
        SCOPED_TRACE(c);
        ASSERT_EQ(out.size(), 6u) << out;
        EXPECT_EQ(out.substr(0, 4), "\\u00");
        EXPECT_EQ(std::stoi(out.substr(4), nullptr, 16), c) << out;
    }
    // Including NUL inside the text (a string_view, not a C string).
    EXPECT_EQ(JsonParser::unescape(json_escape(std::string_view("a\0b", 3))),
              std::string("a\0b", 3));
    EXPECT_EQ(JsonParser::unescape(json_escape("\r\b\f\x1b[0m")), "\r\b\f\x1b[0m");
}

TEST(JsonEscapeTest, Utf8PassesThroughUnchanged) {
    // é, €, ✓, 𝄞 (4 bytes), 😀, CJK, combining accent.
    const std::string text =
        "caf\xc3\xa9 \xe2\x82\xac \xe2\x9c\x93 \xf0\x9d\x84\x9e \xf0\x9f\x98\x80 "
        "\xe6\x97\xa5\xe6\x9c\xac e\xcc\x81";
    EXPECT_EQ(json_escape(text), text);
    // DEL is not a JSON control character either.
    EXPECT_EQ(json_escape("\x7f"), "\x7f");
}

TEST(JsonEscapeTest, EveryAsciiCharacterRoundTrips) {
    std::string all;
    for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
    const std::string escaped = json_escape(all);
    for (char c : escaped) {
        EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << "raw control character in output";
    }
    EXPECT_EQ(JsonParser::unescape(escaped), all);
}

// ---- stats_to_json -----------------------------------------------------------------------------

struct Field {
    const char *key;
    int64_t PoolStats::*member;
};

// Every statistic, in declaration order (an independent copy of core/stats.hpp's list).
const std::vector<Field> kFields = {
    {"total", &PoolStats::total},
    {"idle", &PoolStats::idle},
    {"in_use", &PoolStats::in_use},
    {"opening", &PoolStats::opening},
    {"waiting", &PoolStats::waiting},
    {"max_size", &PoolStats::max_size},
    {"min_size", &PoolStats::min_size},
    {"max_overflow", &PoolStats::max_overflow},
    {"created", &PoolStats::created},
    {"closed", &PoolStats::closed},
    {"acquired", &PoolStats::acquired},
    {"released", &PoolStats::released},
    {"reused", &PoolStats::reused},
    {"acquire_timeouts", &PoolStats::acquire_timeouts},
    {"connect_errors", &PoolStats::connect_errors},
    {"health_checks", &PoolStats::health_checks},
    {"health_check_failures", &PoolStats::health_check_failures},
    {"closed_lifetime", &PoolStats::closed_lifetime},
    {"closed_idle", &PoolStats::closed_idle},
    {"closed_broken", &PoolStats::closed_broken},
    {"closed_overflow", &PoolStats::closed_overflow},
    {"resets", &PoolStats::resets},
    {"acquire_wait_us_total", &PoolStats::acquire_wait_us_total},
    {"acquire_wait_us_max", &PoolStats::acquire_wait_us_max},
    {"breaker_state", &PoolStats::breaker_state},
    {"breaker_opens", &PoolStats::breaker_opens},
    {"waiters_rejected", &PoolStats::waiters_rejected},
    {"unavailable", &PoolStats::unavailable},
    {"leaks_detected", &PoolStats::leaks_detected},
    {"canceled", &PoolStats::canceled},
    {"sweeps", &PoolStats::sweeps},
    {"requests_queued", &PoolStats::requests_queued},
    {"usage_ms", &PoolStats::usage_ms},
    {"acquire_wait_p50_ns", &PoolStats::acquire_wait_p50_ns},
    {"acquire_wait_p90_ns", &PoolStats::acquire_wait_p90_ns},
    {"acquire_wait_p99_ns", &PoolStats::acquire_wait_p99_ns},
    {"acquire_wait_p999_ns", &PoolStats::acquire_wait_p999_ns},
    {"lease_hold_p50_ns", &PoolStats::lease_hold_p50_ns},
    {"lease_hold_p90_ns", &PoolStats::lease_hold_p90_ns},
    {"lease_hold_p99_ns", &PoolStats::lease_hold_p99_ns},
    {"lease_hold_p999_ns", &PoolStats::lease_hold_p999_ns},
    {"utilisation_percent", &PoolStats::utilisation_percent},
    {"health", &PoolStats::health},
    {"recent_errors", &PoolStats::recent_errors},
    {"paused", &PoolStats::paused},
    {"drains", &PoolStats::drains},
    {"closed_drained", &PoolStats::closed_drained},
    {"keepalive_checks", &PoolStats::keepalive_checks},
    {"keepalive_failures", &PoolStats::keepalive_failures},
    {"resizes", &PoolStats::resizes},
    {"reset_failures", &PoolStats::reset_failures},
    {"dead_replaced", &PoolStats::dead_replaced},
    {"alloc_failures", &PoolStats::alloc_failures},
    {"cancel_timeouts", &PoolStats::cancel_timeouts},
};

PoolStats distinct_stats() {
    PoolStats s{};
    int64_t v = 1;
    for (const Field &f : kFields) s.*f.member = (v++) * 1001;
    return s;
}

// Parses `json` and checks: one object, no duplicate keys, exactly name + closed_pool + the
// fields, each with the right value.
void expect_stats_json(const std::string &json, const PoolStats &s, const std::string &name,
                       bool closed) {
    SCOPED_TRACE(json);
    const std::optional<Json> doc = parse_json(json);
    ASSERT_TRUE(doc.has_value());
    const JsonObject *object = doc->object();
    ASSERT_NE(object, nullptr) << "not an object";
    std::map<std::string, const Json *> by_key;
    for (const auto &[key, value] : *object) {
        EXPECT_TRUE(by_key.emplace(key, &value).second) << "duplicate key " << key;
    }
    EXPECT_EQ(by_key.size(), kFields.size() + 2);

    ASSERT_TRUE(by_key.count("name"));
    ASSERT_TRUE(by_key["name"]->is_string());
    EXPECT_EQ(by_key["name"]->string(), name);
    ASSERT_TRUE(by_key.count("closed_pool"));
    ASSERT_TRUE(by_key["closed_pool"]->is_bool());
    EXPECT_EQ(by_key["closed_pool"]->boolean(), closed);
    for (const Field &f : kFields) {
        ASSERT_TRUE(by_key.count(f.key)) << "missing key " << f.key;
        const Json &value = *by_key[f.key];
        ASSERT_TRUE(value.is_number()) << f.key;
        EXPECT_EQ(value.number(), std::to_string(s.*f.member)) << f.key;
    }
}

TEST(StatsJsonTest, TheFieldListCoversTheWholeStruct) {
    // Fails when a statistic is added: add the new field to kFields (and check stats_to_json).
    EXPECT_EQ(sizeof(PoolStats), kFields.size() * sizeof(int64_t));
    EXPECT_EQ(sizeof(connpool_stats), 2 * sizeof(uint32_t) + kFields.size() * sizeof(int64_t));
}

TEST(StatsJsonTest, ParsesAsOneObjectWithEveryFieldAndItsValue) {
    const PoolStats s = distinct_stats();
    expect_stats_json(stats_to_json(s, "main", false), s, "main", false);
    expect_stats_json(stats_to_json(s, "main", true), s, "main", true);
}

TEST(StatsJsonTest, ZeroesAndExtremeValues) {
    PoolStats s{};
    expect_stats_json(stats_to_json(s, "", false), s, "", false);
    s.total = std::numeric_limits<int64_t>::max();
    s.acquire_wait_us_total = std::numeric_limits<int64_t>::max() - 1;
    s.breaker_state = 2;
    s.waiting = -1;  // not expected, but must still be valid JSON
    s.sweeps = std::numeric_limits<int64_t>::min();
    expect_stats_json(stats_to_json(s, "x", false), s, "x", false);
}

TEST(StatsJsonTest, EscapesThePoolName) {
    const PoolStats s = distinct_stats();
    for (const std::string &name : {
             std::string(R"(my "pool")"),
             std::string(R"(C:\pools\main)"),
             std::string("line1\nline2\ttab\r\x01\x1f"),
             std::string("\", \"total\": 999, \"x\": \""),  // injection attempt
             std::string("caf\xc3\xa9 \xf0\x9f\x98\x80"),
             std::string("nul\0inside", 10),
         }) {
        const std::string json = stats_to_json(s, name, false);
        expect_stats_json(json, s, name, false);
    }
}

}  // namespace
}  // namespace connpool::testing
