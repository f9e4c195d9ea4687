// <connpool/connpool.hpp> compiles on its own as C++17 under strict warnings (tests/cpp's
// CMakeLists.txt sets the flags; a warning fails the build step cpp.header_compiles_as_cxx17),
// and every inline function of it is instantiated here at least once.
#include <connpool/connpool.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

int connpool_hpp_instantiate_everything(const char *conninfo);

int connpool_hpp_instantiate_everything(const char *conninfo) {
    using namespace std::chrono_literals;
    connpool::pool pool(conninfo, connpool::options()
                                      .set("max_size", 4)
                                      .set("pre_ping", true)
                                      .set("name", std::string("x"))
                                      .set("overtake_window_us", 200us)
                                      .set("acquire_timeout", 2s));
    pool.wait_ready(1s);
    connpool::lease lease = pool.acquire();
    std::optional<connpool::lease> maybe = pool.try_acquire();
    lease = pool.acquire(10ms);
    lease.set_label("label");
    const std::optional<std::string_view> none;
    connpool::result res = lease.exec("SELECT $1, $2, $3, $4", 1U, "two", none, false);
    res = lease.try_exec("SELECT 1", std::vector<connpool::param>{std::nullopt, 3L});
    int total = res.columns() + static_cast<int>(res.size()) + (res.ok() ? 1 : 0);
    for (connpool::row row : res) {
        total += row.size() + (row.is_null(0) ? 1 : 0);
        total += static_cast<int>(row.text(0).size() + row["a"].value_or("").size());
    }
    total +=
        static_cast<int>(res.column_names().size() + res.column_type(0) + res.sqlstate().size() +
                         res.error_message().size() + res.scalar().value_or("").size());
    total += static_cast<int>(res.affected_rows().value_or(0));
    total +=
        static_cast<int>(lease.connection_id() + static_cast<unsigned>(lease.transaction_status()));
    lease.cancel();
    lease.release();
    const connpool::stats snapshot = pool.statistics();
    total += static_cast<int>(connpool::stat(snapshot, "total").value_or(0) +
                              static_cast<long>(pool.statistics_json().size()));
    pool.close();
    try {
        throw connpool::error(CONNPOOL_ERR_INTERNAL, "message", "");
    } catch (const connpool::error &e) {
        total += e.status() + static_cast<int>(e.message().size() + e.sqlstate().size() +
                                               e.status_name().size() + e.code().message().size());
    }
    return total +
           static_cast<int>(connpool::version().size() + connpool::status_name(CONNPOOL_OK).size());
}
