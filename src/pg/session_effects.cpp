#include "pg/session_effects.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace connpool {
namespace {

bool iequals(std::string_view a, std::string_view lower) {
    if (a.size() != lower.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lower[i]) return false;
    }
    return true;
}

template <size_t N>
bool one_of(std::string_view word, const std::string_view (&list)[N]) {
    for (std::string_view entry : list) {
        if (iequals(word, entry)) return true;
    }
    return false;
}

// First words of statements that cannot change the session beyond their transaction (their
// function calls are still checked). SET is handled apart: SET LOCAL / SET TRANSACTION only.
constexpr std::string_view kNeutralFirst[] = {
    "select",   "insert",  "update",    "delete",  "merge", "with",    "values", "table",
    "show",     "explain", "fetch",     "move",    "begin", "start",   "commit", "end",
    "rollback", "abort",   "savepoint", "release", "lock",  "truncate"};

// Keywords and type names that may be followed by "(" without being a function call.
constexpr std::string_view kNotCalls[] = {
    "select",    "from",      "where",     "and",       "or",           "not",      "in",
    "exists",    "any",       "all",       "some",      "values",       "as",       "on",
    "using",     "join",      "lateral",   "over",      "filter",       "within",   "group",
    "by",        "partition", "order",     "having",    "cast",         "array",    "row",
    "set",       "conflict",  "returning", "when",      "then",         "else",     "case",
    "is",        "between",   "like",      "ilike",     "similar",      "union",    "intersect",
    "except",    "with",      "recursive", "limit",     "offset",       "distinct", "only",
    "grouping",  "sets",      "cube",      "rollup",    "materialized", "first",    "numeric",
    "decimal",   "varchar",   "char",      "character", "varying",      "bit",      "time",
    "timestamp", "interval",  "float"};

// Builtins that read or compute but leave no session state behind (transaction-scoped advisory
// locks end with the transaction). Anything else called counts as a possible change.
constexpr std::string_view kPureFunctions[] = {
    "count", "sum", "avg", "min", "max", "now", "coalesce", "nullif", "greatest", "least", "lower",
    "upper", "length", "char_length", "octet_length", "substr", "substring", "position", "strpos",
    "trim", "btrim", "ltrim", "rtrim", "replace", "concat", "concat_ws", "format", "left", "right",
    "lpad", "rpad", "repeat", "reverse", "split_part", "starts_with", "regexp_replace",
    "regexp_match", "regexp_matches", "md5", "encode", "decode", "abs", "round", "trunc", "floor",
    "ceil", "ceiling", "mod", "power", "sqrt", "random", "to_char", "to_number", "to_date",
    "to_timestamp", "date_trunc", "date_part", "extract", "age", "clock_timestamp",
    "statement_timestamp", "transaction_timestamp", "current_setting", "array_agg", "string_agg",
    "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "json_build_object",
    "jsonb_build_object", "json_build_array", "jsonb_build_array", "row_to_json", "to_json",
    "to_jsonb", "jsonb_set", "json_array_elements", "jsonb_array_elements", "jsonb_each",
    "jsonb_object_keys", "array_length", "array_to_string", "string_to_array", "cardinality",
    "unnest", "generate_series", "bool_and", "bool_or", "every", "row_number", "rank", "dense_rank",
    "lag", "lead", "first_value", "last_value", "stddev", "variance", "percentile_cont",
    "percentile_disc", "gen_random_uuid", "pg_backend_pid", "version", "pg_sleep", "currval",
    "lastval", "txid_current", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
    "pg_try_advisory_xact_lock", "pg_try_advisory_xact_lock_shared", "pg_listening_channels", "exp",
    "ln",
    // the pool group's role probe (pg/pool_group_factory.cpp)
    "pg_is_in_recovery", "pg_last_wal_receive_lsn", "pg_last_wal_replay_lsn",
    "pg_last_xact_replay_timestamp", "pg_postmaster_start_time"};

enum class Kind : uint8_t { word, quoted, string, other, end, bad };

struct Token {
    Kind kind = Kind::other;
    std::string_view text;
    bool is(char c) const { return kind == Kind::other && text.size() == 1 && text[0] == c; }
    bool is_word(std::string_view lower) const {
        return kind == Kind::word && iequals(text, lower);
    }
};

bool word_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
}

bool word_char(char c) {
    return word_start(c) || (c >= '0' && c <= '9') || c == '$';
}

class Scanner {
  public:
    explicit Scanner(std::string_view sql) : s_(sql) {}

    Token next() {
        if (!skip_blanks()) return {Kind::bad, {}};
        if (i_ >= s_.size()) return {Kind::end, {}};
        const size_t start = i_;
        const char c = s_[i_];
        if (word_start(c)) {
            while (i_ < s_.size() && word_char(s_[i_])) ++i_;
            const std::string_view word = s_.substr(start, i_ - start);
            // E'...': backslash escapes.
            if (word.size() == 1 && (c == 'e' || c == 'E') && i_ < s_.size() && s_[i_] == '\'') {
                return string_literal(true);
            }
            return {Kind::word, word};
        }
        if (c >= '0' && c <= '9') {
            while (i_ < s_.size() && (word_char(s_[i_]) || s_[i_] == '.')) ++i_;
            return {Kind::other, s_.substr(start, i_ - start)};
        }
        if (c == '\'') return string_literal(false);
        if (c == '"') return quoted_identifier();
        if (c == '$') return dollar();
        ++i_;
        return {Kind::other, s_.substr(start, 1)};
    }

  private:
    // Skips whitespace and comments; false for an unterminated block comment.
    bool skip_blanks() {
        while (i_ < s_.size()) {
            const char c = s_[i_];
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
                ++i_;
            } else if (c == '-' && at(i_ + 1) == '-') {
                while (i_ < s_.size() && s_[i_] != '\n') ++i_;
            } else if (c == '/' && at(i_ + 1) == '*') {
                if (!block_comment()) return false;
            } else {
                break;
            }
        }
        return true;
    }

    bool block_comment() {  // they nest in PostgreSQL
        int depth = 0;
        while (i_ < s_.size()) {
            if (s_[i_] == '/' && at(i_ + 1) == '*') {
                ++depth;
                i_ += 2;
            } else if (s_[i_] == '*' && at(i_ + 1) == '/') {
                i_ += 2;
                if (--depth == 0) return true;
            } else {
                ++i_;
            }
        }
        return false;
    }

    // A backslash in a standard string is ordinary only with standard_conforming_strings on
    // (the default): the scanner cannot know the setting, so it gives up (counts a change).
    Token string_literal(bool escapes) {
        ++i_;  // opening quote
        while (i_ < s_.size()) {
            const char c = s_[i_++];
            if (c == '\\') {
                if (!escapes) return {Kind::bad, {}};
                ++i_;
            } else if (c == '\'') {
                if (at(i_) != '\'') return {Kind::string, {}};
                ++i_;
            }
        }
        return {Kind::bad, {}};
    }

    Token quoted_identifier() {
        const size_t start = ++i_;
        while (i_ < s_.size()) {
            if (s_[i_++] != '"') continue;
            if (at(i_) != '"') return {Kind::quoted, s_.substr(start, i_ - 1 - start)};
            ++i_;
        }
        return {Kind::bad, {}};
    }

    // $1 (a parameter) or a dollar-quoted string $tag$...$tag$.
    Token dollar() {
        const size_t start = i_++;
        if (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
            while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
            return {Kind::other, s_.substr(start, i_ - start)};
        }
        while (i_ < s_.size() && s_[i_] != '$' && word_char(s_[i_])) ++i_;
        if (i_ >= s_.size() || s_[i_] != '$') return {Kind::bad, {}};
        const std::string_view tag = s_.substr(start, i_ + 1 - start);
        const size_t close = s_.find(tag, i_ + 1);
        if (close == std::string_view::npos) return {Kind::bad, {}};
        i_ = close + tag.size();
        return {Kind::string, {}};
    }

    char at(size_t i) const { return i < s_.size() ? s_[i] : '\0'; }

    std::string_view s_;
    size_t i_ = 0;
};

// The last tokens seen in the current statement, most recent first.
class Recent {
  public:
    void push(const Token &t) {
        for (size_t i = last_.size() - 1; i > 0; --i) last_[i] = last_[i - 1];
        last_[0] = t;
    }
    const Token &operator[](size_t i) const { return last_[i]; }
    void clear() { last_ = {}; }

  private:
    std::array<Token, 4> last_{};
};

// `recent[0]` is followed by "(": is that a call of something that may change the session?
bool unsafe_call(const Recent &recent) {
    const Token &name = recent[0];
    if (name.kind != Kind::word && name.kind != Kind::quoted) return false;
    const bool qualified = recent[1].is('.');
    // INSERT INTO t (a, b) / AS alias (a, b): a column list, not a call.
    const Token &before = qualified ? recent[3] : recent[1];
    if (before.is_word("into") || before.is_word("as")) return false;
    if (name.kind == Kind::quoted) return true;
    if (qualified) {
        return !recent[2].is_word("pg_catalog") || !one_of(name.text, kPureFunctions);
    }
    return !one_of(name.text, kNotCalls) && !one_of(name.text, kPureFunctions);
}

// Follows the statements of a text token by token; take() is true once a token shows a possible
// change of the session.
class Checker {
  public:
    bool take(const Token &t) {
        if (t.is(';')) {
            const bool bare_set = after_set_;  // a lone SET: not understood
            start_ = true;
            after_set_ = false;
            recent_.clear();
            return bare_set;
        }
        bool change = false;
        if (start_) {
            change = first_word(t);
        } else if (after_set_) {
            change = set_scope(t);
        } else {
            change = inside(t);
        }
        recent_.push(t);
        return change;
    }

  private:
    bool first_word(const Token &t) {
        start_ = false;
        if (t.is_word("set")) {
            after_set_ = true;  // only SET LOCAL / SET TRANSACTION are neutral
            return false;
        }
        return t.kind != Kind::word || !one_of(t.text, kNeutralFirst);
    }

    bool set_scope(const Token &t) {
        after_set_ = false;
        return !t.is_word("local") && !t.is_word("transaction");
    }

    bool inside(const Token &t) const {
        // SELECT ... INTO creates a table; INSERT INTO / MERGE INTO do not.
        if (t.is_word("into")) return !recent_[0].is_word("insert") && !recent_[0].is_word("merge");
        return t.is('(') && unsafe_call(recent_);
    }

    Recent recent_;
    bool start_ = true;
    bool after_set_ = false;
};

}  // namespace

bool may_change_session(std::string_view sql) {
    Scanner scanner(sql);
    Checker checker;
    for (;;) {
        const Token t = scanner.next();
        if (t.kind == Kind::bad) return true;
        if (t.kind == Kind::end) return false;
        if (checker.take(t)) return true;
    }
}

}  // namespace connpool
