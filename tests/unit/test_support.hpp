// Helpers shared by the unit tests: pools over the fake connector, built through the C API.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>

#include "connpool/connpool.h"
#include "core/pool.hpp"
#include "fake_connector.hpp"
#include "handles.hpp"
#include "wait_support.hpp"

namespace connpool::testing {

using Option = std::pair<const char *, const char *>;

// Owns an error object for one call; `.out()` hands the C API its `connpool_error **`.
class ErrorBox {
  public:
    ~ErrorBox() { connpool_error_free(error_); }
    connpool_error **out() {
        connpool_error_free(error_);
        error_ = nullptr;
        return &error_;
    }
    std::string message() const { return connpool_error_message(error_); }
    connpool_status status() const { return connpool_error_status(error_); }

  private:
    connpool_error *error_ = nullptr;
};

inline connpool_options *make_options(std::initializer_list<Option> options) {
    connpool_options *opts = nullptr;
    EXPECT_EQ(connpool_options_new(&opts, nullptr), CONNPOOL_OK);
    for (const auto &[key, value] : options) {
        ErrorBox error;
        EXPECT_EQ(connpool_options_set(opts, key, value, error.out()), CONNPOOL_OK)
            << key << "=" << value << ": " << error.message();
    }
    return opts;
}

inline connpool_pool *make_fake_pool(const std::shared_ptr<FakeServer> &server,
                                     std::initializer_list<Option> options) {
    connpool_options *opts = make_options(options);
    connpool_pool *pool = nullptr;
    ErrorBox error;
    EXPECT_EQ(capi::create_pool(&pool, std::make_unique<FakeConnector>(server), opts, error.out()),
              CONNPOOL_OK)
        << error.message();
    connpool_options_free(opts);
    return pool;
}

inline connpool_stats stats_of(connpool_pool *pool) {
    connpool_stats s{};
    s.struct_size = sizeof s;
    EXPECT_EQ(connpool_pool_stats(&s, pool, nullptr), CONNPOOL_OK);
    return s;
}

// The fake connection behind a lease (tests only: the C API never exposes it).
inline FakeConnection &fake_of(connpool_lease *lease) {
    auto ref = HandleRegistry::instance().lookup(capi::token_of(lease), HandleKind::lease);
    return FakeConnector::fake(*ref.get<Slot>()->connection);
}

// The label the pool holds for a lease (tests only).
inline std::string label_of(connpool_lease *lease) {
    auto ref = HandleRegistry::instance().lookup(capi::token_of(lease), HandleKind::lease);
    return ref.get<Slot>()->label;
}

}  // namespace connpool::testing
