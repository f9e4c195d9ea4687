/*
 * The README's "Quick start (C++)", whole: the C quick start with the header-only C++17 wrapper
 * <connpool/connpool.hpp>. CTest runs it against the test server (examples.quickstart_cpp); it
 * fails unless the answer is 42. The text between the README markers is the README's block,
 * checked by examples/check_readme_snippets.py.
 *
 *   quickstart_cpp [CONNINFO]
 */
/* README:begin */
#include <connpool/connpool.hpp>

#include <chrono>
#include <iostream>
#include <string>

int main(int argc, char **argv) try {
    using namespace std::chrono_literals;
    std::string conninfo = argc > 1 ? argv[1] : "host=/var/run/postgresql dbname=app";
    connpool::pool pool(conninfo, connpool::options().set("max_size", 8));

    connpool::lease lease = pool.acquire(5s);   // released when it goes out of scope
    connpool::result res = lease.exec("SELECT $1::int + 1 AS answer", 41);
    std::string answer(res[0]["answer"].value());   // std::nullopt would be SQL NULL
    std::cout << "answer: " << answer << "\n";

    for (connpool::row row : lease.exec("SELECT n, nullif(n % 2, 0) AS odd FROM generate_series(1, 3) n"))
        std::cout << row[0].value() << " " << row["odd"].value_or("NULL") << "\n";

    // try_exec: a statement the server rejects is a value, not an exception
    connpool::result bad = lease.try_exec("SELECT 1 / 0");
    std::cout << "SQLSTATE " << bad.sqlstate() << ": " << bad.error_message() << "\n";
    return answer == "42" && bad.sqlstate() == "22012" ? 0 : 1;
} catch (const connpool::error &e) {   // status, message and SQLSTATE of what failed
    std::cerr << e.status_name() << " [" << e.sqlstate() << "]: " << e.message() << "\n";
    return 1;
}
/* README:end */
