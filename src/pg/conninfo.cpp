#include "pg/conninfo.hpp"

#include <cstring>
#include <memory>

#include <libpq-fe.h>

namespace connpool {

namespace {
constexpr size_t kMaxConninfoLength = size_t{64} * 1024;
constexpr const char *kMask = "********";
}  // namespace

std::string redact(std::string text, std::string_view secret) {
    if (secret.empty()) return text;
    for (size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + std::strlen(kMask))) {
        text.replace(at, secret.size(), kMask);
    }
    return text;
}

namespace {

using ParsedOptions = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

// libpq's parse of `conninfo`, or an error of the library's own wording.
Error parse_options(const char *conninfo, ParsedOptions &out) {
    if (std::strlen(conninfo) > kMaxConninfoLength) {
        return {CONNPOOL_ERR_INVALID_ARGUMENT,
                "conninfo is longer than 65536 bytes; pass a libpq connection string"};
    }
    char *libpq_message = nullptr;
    PQconninfoOption *options = PQconninfoParse(conninfo, &libpq_message);
    if (options == nullptr) {
        // libpq's message quotes fragments of the input (possibly a password): never pass it on.
        PQfreemem(libpq_message);
        return {CONNPOOL_ERR_INVALID_ARGUMENT,
                "conninfo could not be parsed: expected space-separated key=value pairs "
                "(e.g. \"host=localhost dbname=app user=app\") with known libpq keywords, or a "
                "postgresql:// URI; check quoting and keyword names"};
    }
    out.reset(options);
    return {};
}

bool is_secret(const PQconninfoOption &option) {
    // libpq marks every secret option (password, sslpassword...) with dispchar "*".
    return option.dispchar != nullptr && option.dispchar[0] == '*';
}

}  // namespace

Error parse_conninfo(const char *conninfo, ParsedConninfo &out) {
    ParsedOptions options(nullptr, PQconninfoFree);
    Error error = parse_options(conninfo, options);
    if (!error.ok()) return error;
    out = {};
    for (PQconninfoOption *o = options.get(); o->keyword != nullptr; ++o) {
        if (o->val == nullptr) continue;
        const bool secret = is_secret(*o);
        if (std::strcmp(o->keyword, "password") == 0) out.password = o->val;
        if (!out.redacted.empty()) out.redacted += ' ';
        out.redacted += o->keyword;
        out.redacted += '=';
        out.redacted += secret ? kMask : o->val;
    }
    return {};
}

Error first_conninfo_difference(const char *a, const char *b, ConninfoDifference &out) {
    ParsedOptions left(nullptr, PQconninfoFree), right(nullptr, PQconninfoFree);
    Error error = parse_options(a, left);
    if (error.ok()) error = parse_options(b, right);
    if (!error.ok()) return error;
    out = {};
    // Both arrays list every keyword libpq knows, in the same order.
    for (PQconninfoOption *l = left.get(), *r = right.get(); l->keyword != nullptr; ++l, ++r) {
        const bool equal =
            (l->val == nullptr && r->val == nullptr) ||
            (l->val != nullptr && r->val != nullptr && std::strcmp(l->val, r->val) == 0);
        if (equal) continue;
        out.key = l->keyword;
        out.secret = is_secret(*l);
        break;
    }
    return {};
}

}  // namespace connpool
