// Small helpers over libpq's messages and result statuses, shared by the src/pg files that talk
// to libpq.
#pragma once

#include <libpq-fe.h>

#include <string>

namespace connpool {

// A libpq message without its trailing newline.
inline std::string trimmed(const char *message) {
    std::string text = message != nullptr ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

// The statement started a COPY, which the pool's statement paths do not drive.
inline bool is_copy(ExecStatusType status) {
    return status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH;
}

}  // namespace connpool
