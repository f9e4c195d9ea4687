// The C++ side of the error model: a status code from connpool.h plus a message (and SQLSTATE
// for query failures). Built only on failure paths; the hot path returns a bare status.
#pragma once

#include <string>
#include <utility>

#include "connpool/connpool.h"

namespace connpool {

struct Error {
    connpool_status status = CONNPOOL_OK;
    std::string message;
    std::string sqlstate;

    Error() = default;
    Error(connpool_status s, std::string m, std::string state = {})
        : status(s), message(std::move(m)), sqlstate(std::move(state)) {}
    bool ok() const { return status == CONNPOOL_OK; }
};

}  // namespace connpool
