// A libpq message without its trailing newline.
#pragma once

#include <string>

namespace connpool {

inline std::string trimmed(const char *message) {
    std::string text = message != nullptr ? message : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace connpool
