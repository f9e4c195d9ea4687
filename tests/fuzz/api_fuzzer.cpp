// Drives random sequences of C API calls, with valid, released and made-up handles, against a
// pool over the fake connector, and checks every status and the final counters against a
// simple model of what must have happened.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "connpool/connpool.h"
#include "fake_connector.hpp"
#include "handles.hpp"

namespace {

using namespace connpool;
using namespace connpool::testing;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

struct Input {
    const uint8_t *data;
    size_t size;
    size_t at = 0;
    bool empty() const { return at >= size; }
    uint8_t next() { return at < size ? data[at++] : 0; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in{data, size};
    const int max_size = 1 + in.next() % 4;
    auto server = std::make_shared<FakeServer>();
    connpool_options *opts = nullptr;
    check(connpool_options_new(&opts, nullptr) == CONNPOOL_OK);
    const std::string n = std::to_string(max_size);
    check(connpool_options_set(opts, "max_size", n.c_str(), nullptr) == CONNPOOL_OK);
    check(connpool_options_set(opts, "min_size", n.c_str(), nullptr) == CONNPOOL_OK);
    check(connpool_options_set(opts, "pre_ping", "off", nullptr) == CONNPOOL_OK);
    connpool_pool *pool = nullptr;
    check(capi::create_pool(&pool, std::make_unique<FakeConnector>(server), opts, nullptr) ==
          CONNPOOL_OK);
    check(connpool_options_free(opts) == CONNPOOL_OK);
    check(connpool_pool_wait_ready(pool, 5000, nullptr) == CONNPOOL_OK);

    std::vector<connpool_lease *> leases, released;
    std::vector<connpool_acquire *> requests;
    int64_t acquired = 0, releases = 0;
    for (int steps = 0; !in.empty() && steps < 200; ++steps) {
        const uint8_t op = in.next() % 9;
        const uint8_t arg = in.next();
        switch (op) {
            case 0: {  // acquire without waiting
                connpool_lease *lease = nullptr;
                const connpool_status s = connpool_pool_acquire(&lease, pool, 0, nullptr);
                if (static_cast<int>(leases.size()) == max_size) check(s == CONNPOOL_ERR_TIMEOUT);
                check(s == CONNPOOL_OK || s == CONNPOOL_ERR_TIMEOUT);
                check((s == CONNPOOL_OK) == (lease != nullptr));
                if (lease != nullptr) leases.push_back(lease), ++acquired;
                break;
            }
            case 1:  // release a live lease, possibly left broken or mid-transaction
                if (!leases.empty()) {
                    const size_t i = arg % leases.size();
                    {
                        auto ref = HandleRegistry::instance().lookup(capi::token_of(leases[i]),
                                                                     HandleKind::lease);
                        check(static_cast<bool>(ref));
                        FakeConnector::fake(*ref.get<Slot>()->connection).state =
                            static_cast<FakeState>(arg % 4);
                    }
                    check(connpool_lease_release(leases[i], nullptr) == CONNPOOL_OK);
                    ++releases;
                    released.push_back(leases[i]);
                    leases.erase(leases.begin() + static_cast<long>(i));
                }
                break;
            case 2:  // double release / use after release
                if (!released.empty()) {
                    connpool_lease *stale = released[arg % released.size()];
                    check(connpool_lease_release(stale, nullptr) == CONNPOOL_ERR_INVALID_HANDLE);
                    void *raw = nullptr;
                    check(connpool_lease_pgconn(&raw, stale, nullptr) ==
                          CONNPOOL_ERR_INVALID_HANDLE);
                    check(connpool_lease_send(stale, "SELECT 1", 0, nullptr, nullptr) ==
                          CONNPOOL_ERR_INVALID_HANDLE);
                    connpool_result *res = nullptr;
                    check(connpool_lease_collect(&res, stale, nullptr) ==
                          CONNPOOL_ERR_INVALID_HANDLE);
                    check(res == nullptr);
                    check(connpool_lease_cancel(stale, nullptr) == CONNPOOL_ERR_INVALID_HANDLE);
                }
                break;
            case 3: {  // made-up or wrong-kind handles
                const uintptr_t bogus =
                    (uintptr_t{arg} << 56) | (uintptr_t{arg} * 0x9e3779b97f4a7c15ull >> 8);
                connpool_lease *out = nullptr;
                const connpool_status s = connpool_pool_acquire(
                    &out, reinterpret_cast<connpool_pool *>(bogus), 0, nullptr);
                check(s == CONNPOOL_ERR_INVALID_HANDLE || bogus == 0);
                check(connpool_lease_release(reinterpret_cast<connpool_lease *>(pool), nullptr) ==
                      CONNPOOL_ERR_INVALID_HANDLE);
                check(connpool_result_row_count(reinterpret_cast<connpool_result *>(bogus)) == -1);
                break;
            }
            case 4: {  // stats are always consistent
                connpool_stats s{};
                s.struct_size = sizeof s;
                check(connpool_pool_stats(&s, pool, nullptr) == CONNPOOL_OK);
                check(s.idle + s.in_use == s.total);
                check(s.total <= max_size);
                check(s.in_use >= static_cast<int64_t>(leases.size()));
                check(s.acquired >= acquired && s.released == releases);
                break;
            }
            case 5: {  // start an async acquire
                connpool_acquire *r = nullptr;
                check(connpool_pool_acquire_async(&r, pool, arg % 2 ? 0 : 1000, nullptr) ==
                      CONNPOOL_OK);
                requests.push_back(r);
                break;
            }
            case 6:  // collect, cancel or free an async acquire
                if (!requests.empty()) {
                    const size_t i = arg % requests.size();
                    connpool_lease *lease = nullptr;
                    const connpool_status s = connpool_acquire_result(&lease, requests[i], nullptr);
                    if (s == CONNPOOL_OK) leases.push_back(lease), ++acquired;
                    if (arg & 1) check(connpool_acquire_cancel(requests[i]) == CONNPOOL_OK);
                    if (arg & 2) {
                        check(connpool_acquire_free(requests[i]) == CONNPOOL_OK);
                        check(connpool_acquire_free(requests[i]) == CONNPOOL_ERR_INVALID_HANDLE);
                        requests.erase(requests.begin() + static_cast<long>(i));
                    }
                }
                break;
            case 7:  // labels; statements on a pool whose connections are not libpq ones
                if (!leases.empty()) {
                    connpool_lease *lease = leases[arg % leases.size()];
                    check(connpool_lease_set_label(lease, "fuzz", nullptr) == CONNPOOL_OK);
                    check(connpool_lease_send(lease, "SELECT 1", 0, nullptr, nullptr) ==
                          CONNPOOL_ERR_INVALID_ARGUMENT);
                    int32_t fd = 0, events = 0, tx = 0;
                    check(connpool_lease_socket(&fd, &events, lease, nullptr) ==
                          CONNPOOL_ERR_INVALID_ARGUMENT);
                    check(connpool_lease_transaction_status(&tx, lease, nullptr) ==
                          CONNPOOL_ERR_INVALID_ARGUMENT);
                }
                break;
            default: {  // timeouts of every sign and size: no overflow, cancel always works
                const int64_t timeouts[] = {INT64_MAX, INT64_MIN, -1, 1};
                connpool_acquire *r = nullptr;
                check(connpool_pool_acquire_async(&r, pool, timeouts[arg % 4], nullptr) ==
                      CONNPOOL_OK);
                connpool_lease *lease = nullptr;
                const connpool_status s = connpool_acquire_result(&lease, r, nullptr);
                check(s == CONNPOOL_OK || s == CONNPOOL_ERR_IN_PROGRESS ||
                      s == CONNPOOL_ERR_TIMEOUT);
                if (s == CONNPOOL_OK) leases.push_back(lease), ++acquired;
                check(connpool_acquire_cancel(r) == CONNPOOL_OK);
                check(connpool_acquire_free(r) == CONNPOOL_OK);
                break;
            }
        }
    }
    for (connpool_acquire *r : requests) check(connpool_acquire_free(r) == CONNPOOL_OK);
    for (connpool_lease *l : leases) {
        check(connpool_lease_release(l, nullptr) == CONNPOOL_OK);
        ++releases;
    }
    connpool_stats s{};
    s.struct_size = sizeof s;
    check(connpool_pool_stats(&s, pool, nullptr) == CONNPOOL_OK);
    check(s.acquired == acquired);
    check(s.released == releases);
    check(connpool_pool_free(pool) == CONNPOOL_OK);
    check(connpool_pool_free(pool) == CONNPOOL_ERR_INVALID_HANDLE);
    check(server->open_connections() == 0);
    return 0;
}
