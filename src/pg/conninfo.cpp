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

Error parse_conninfo(const char *conninfo, ParsedConninfo &out) {
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
    std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> guard(options, PQconninfoFree);
    out = {};
    for (PQconninfoOption *o = options; o->keyword != nullptr; ++o) {
        if (o->val == nullptr) continue;
        // libpq marks every secret option (password, sslpassword...) with dispchar "*".
        const bool secret = o->dispchar != nullptr && o->dispchar[0] == '*';
        if (std::strcmp(o->keyword, "password") == 0) out.password = o->val;
        if (!out.redacted.empty()) out.redacted += ' ';
        out.redacted += o->keyword;
        out.redacted += '=';
        out.redacted += secret ? kMask : o->val;
    }
    return {};
}

}  // namespace connpool
