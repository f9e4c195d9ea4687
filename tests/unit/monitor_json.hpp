// Reading the monitoring router's JSON replies in tests: parsed by Boost.PropertyTree's JSON
// reader (header-only, from the same Boost the exporter is built with), so a reply that is
// not valid JSON fails the test instead of matching a substring by luck.
#pragma once

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <optional>
#include <sstream>
#include <string>

namespace connpool::testing {

using JsonTree = boost::property_tree::ptree;

// The parsed body, or an empty optional (with the reason in `why`) when it is not JSON.
inline std::optional<JsonTree> parse_json(const std::string &body, std::string *why = nullptr) {
    std::istringstream in(body);
    JsonTree tree;
    try {
        boost::property_tree::read_json(in, tree);
    } catch (const boost::property_tree::json_parser_error &e) {
        if (why != nullptr) *why = e.what();
        return std::nullopt;
    }
    return tree;
}

}  // namespace connpool::testing
