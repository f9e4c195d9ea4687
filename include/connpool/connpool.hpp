/*
 * libconnpool for C++17: a header-only wrapper over the C API of <connpool/connpool.h>.
 *
 * Everything here is inline and calls only the C functions: the C ABI stays the library's only
 * binary interface, and a program built with this header links against libconnpool.so exactly
 * as a C program does. The C header remains the complete reference for behaviour (timeouts,
 * blocking, threads); this file documents what the wrapper adds.
 *
 *   connpool::pool    owns a connpool_pool       (connpool_pool_free on destruction)
 *   connpool::lease   owns a connpool_lease      (connpool_lease_release on destruction)
 *   connpool::result  owns a connpool_result     (connpool_result_free on destruction)
 *   connpool::options owns a connpool_options    (connpool_options_free on destruction)
 *
 * They are move-only; a moved-from object is empty (operator bool is false) and its destructor
 * does nothing. As in C, results outlive their lease and pool, and leases outlive their pool
 * object: destroy them in any order.
 *
 * Errors: a failing call throws connpool::error (a std::runtime_error) carrying the status, the
 * library's message and, for statements the server rejected, the SQLSTATE. Memory exhaustion
 * inside the wrapper throws std::bad_alloc. Two calls also have a non-throwing form, for the
 * outcomes a caller expects to handle as values rather than as exceptions:
 *   pool::try_acquire()          std::nullopt when no idle connection can be had without waiting
 *                                (CONNPOOL_ERR_WOULD_BLOCK);
 *   lease::try_exec(sql, ...)    a result whose ok() is false when the server rejected the
 *                                statement (message and SQLSTATE on the result).
 * Both still throw connpool::error for everything else (closed pool, broken connection...).
 *
 * Parameters of exec/try_exec are text, as in C ($1..$n, types inferred by the server): each
 * argument is a connpool::param, made from a string (std::string_view, std::string, const
 * char *), an integer, a bool ("true"/"false"), or std::nullopt / std::optional<...> for SQL
 * NULL. Values are copied for the call only.
 *
 * Threads: as in C. A pool may be used from any number of threads at once; a lease by one
 * thread at a time (lease::cancel may come from another); a result may be read by several
 * threads at once. Moving or destroying an object is not safe while another thread uses it.
 *
 *   connpool::pool pool("host=/var/run/postgresql dbname=app",
 *                       connpool::options().set("max_size", 8));
 *   connpool::lease lease = pool.acquire(std::chrono::seconds(5));
 *   for (connpool::row row : lease.exec("SELECT $1::int + 1 AS answer", 41))
 *       std::cout << row["answer"].value_or("NULL") << "\n";
 */
#ifndef CONNPOOL_CONNPOOL_HPP
#define CONNPOOL_CONNPOOL_HPP

#include <connpool/connpool.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#if __cplusplus < 201703L
#error "<connpool/connpool.hpp> needs C++17 or later; C programs use <connpool/connpool.h>"
#endif

namespace connpool {

/** The library's version string, e.g. "0.1.0" (the loaded library's, not the header's). */
inline std::string_view version() noexcept {
    return connpool_version();
}

/** The symbolic name of a status, e.g. "CONNPOOL_ERR_TIMEOUT". */
inline std::string_view status_name(connpool_status code) noexcept {
    return connpool_status_name(code);
}

// ---- errors -------------------------------------------------------------------------------------

/**
 * The std::error_category of connpool statuses: name "connpool", message() the status's one-line
 * description. Lets statuses travel as std::error_code (error::code()).
 */
inline const std::error_category &category() noexcept {
    class connpool_category final : public std::error_category {
      public:
        const char *name() const noexcept override { return "connpool"; }
        std::string message(int code) const override { return connpool_status_description(code); }
    };
    static const connpool_category instance;
    return instance;
}

/** A failed call: the status, the library's message and the SQLSTATE ("" when none). */
class error : public std::runtime_error {
  public:
    error(connpool_status code, const std::string &message, std::string sqlstate)
        : std::runtime_error(std::string(connpool_status_name(code)) + ": " + message),
          status_(code),
          message_(message),
          sqlstate_(std::move(sqlstate)) {}

    /** CONNPOOL_ERR_* of the failure. */
    connpool_status status() const noexcept { return status_; }
    /** The status as a std::error_code of connpool::category(). */
    std::error_code code() const noexcept { return {status_, category()}; }
    /** e.g. "CONNPOOL_ERR_QUERY_FAILED". */
    std::string_view status_name() const noexcept { return connpool_status_name(status_); }
    /** The library's (or server's) message alone; what() is "STATUS_NAME: message". */
    const std::string &message() const noexcept { return message_; }
    /** Five characters for statements the server rejected (e.g. "23505"), else "". */
    const std::string &sqlstate() const noexcept { return sqlstate_; }

  private:
    connpool_status status_;
    std::string message_;
    std::string sqlstate_;
};

namespace detail {

/** Receives a connpool_error from a C call (`&box.ptr`) and frees it. */
struct error_box {
    connpool_error *ptr = nullptr;
    error_box() = default;
    error_box(const error_box &) = delete;
    error_box &operator=(const error_box &) = delete;
    ~error_box() { connpool_error_free(ptr); }
};

/** Throws connpool::error for `code` with the details of `box` (or the status's description). */
[[noreturn]] inline void raise(connpool_status code, const error_box &box) {
    if (box.ptr == nullptr) throw error(code, connpool_status_description(code), "");
    throw error(code, connpool_error_message(box.ptr), connpool_error_sqlstate(box.ptr));
}

inline void check(connpool_status code, const error_box &box) {
    if (code != CONNPOOL_OK) raise(code, box);
}

struct options_free {
    void operator()(connpool_options *p) const noexcept { connpool_options_free(p); }
};
struct pool_free {
    void operator()(connpool_pool *p) const noexcept { connpool_pool_free(p); }
};
struct lease_release {
    void operator()(connpool_lease *p) const noexcept { connpool_lease_release(p, nullptr); }
};
struct result_free {
    void operator()(connpool_result *p) const noexcept { connpool_result_free(p); }
};

/** A timeout for the C API: whole milliseconds, rounded up so that 1 us does not become 0. */
template <class Rep, class Period>
std::int64_t to_ms(std::chrono::duration<Rep, Period> timeout) {
    return std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
}

}  // namespace detail

// ---- options ------------------------------------------------------------------------------------

/**
 * A builder of pool options (the C header lists the keys; connpool_option_describe enumerates
 * them). set() validates at once and throws connpool::error (CONNPOOL_ERR_UNKNOWN_OPTION,
 * CONNPOOL_ERR_INVALID_ARGUMENT) naming what to fix. Chains: options().set(...).set(...).
 */
class options {
  public:
    /** Every option at its default. */
    options() {
        connpool_options *raw = nullptr;
        detail::error_box box;
        detail::check(connpool_options_new(&raw, &box.ptr), box);
        handle_.reset(raw);
    }

    /** Sets `key` to `value` in connpool_options_set's text form ("8", "on", "DISCARD ALL"). */
    options &set(std::string_view key, std::string_view value) & {
        detail::error_box box;
        detail::check(connpool_options_set(handle_.get(), std::string(key).c_str(),
                                           std::string(value).c_str(), &box.ptr),
                      box);
        return *this;
    }
    options &set(std::string_view key, const char *value) & {
        if (value != nullptr) return set(key, std::string_view(value));
        detail::error_box box;  // the C API refuses NULL and says so
        detail::check(
            connpool_options_set(handle_.get(), std::string(key).c_str(), nullptr, &box.ptr), box);
        return *this;
    }
    /** An integer option, or a boolean ("on"/"off"). */
    template <class Int, std::enable_if_t<std::is_integral_v<Int>, int> = 0>
    options &set(std::string_view key, Int value) & {
        if constexpr (std::is_same_v<Int, bool>) {
            return set(key, std::string_view(value ? "on" : "off"));
        } else {
            return set(key, std::string_view(std::to_string(value)));
        }
    }
    /** A duration option, converted to its unit: milliseconds (microseconds for *_us keys). */
    template <class Rep, class Period>
    options &set(std::string_view key, std::chrono::duration<Rep, Period> value) & {
        const bool micro = key.size() > 3 && key.substr(key.size() - 3) == "_us";
        const auto count =
            micro ? std::chrono::duration_cast<std::chrono::microseconds>(value).count()
                  : std::chrono::duration_cast<std::chrono::milliseconds>(value).count();
        return set(key, std::string_view(std::to_string(count)));
    }
    /** The same setters on a temporary, so that options().set(...) can be passed to pool. */
    template <class Value>
    options &&set(std::string_view key, Value &&value) && {
        set(key, std::forward<Value>(value));
        return std::move(*this);
    }

    /** The C handle, for functions this wrapper does not cover. */
    const connpool_options *native_handle() const noexcept { return handle_.get(); }

  private:
    std::unique_ptr<connpool_options, detail::options_free> handle_;
};

// ---- parameters ---------------------------------------------------------------------------------

/**
 * One text parameter of a statement, or SQL NULL. Integers are converted into the param; strings
 * are referenced, not copied, so a param must not outlive the string it was made from (the
 * arguments of exec and try_exec live until the call returns).
 */
class param {
  public:
    /** SQL NULL. */
    param(std::nullopt_t) noexcept {}
    param(std::string_view text) : text_(text) {}
    param(const std::string &text) : text_(std::string_view(text)) {}
    /** A NULL pointer is SQL NULL. */
    param(const char *text) {
        if (text != nullptr) text_ = std::string_view(text);
    }
    /** std::nullopt is SQL NULL. */
    template <class T>
    param(const std::optional<T> &value) {
        if (value) *this = param(*value);
    }
    /** Integers in decimal; bool as "true"/"false". */
    template <class Int, std::enable_if_t<std::is_integral_v<Int>, int> = 0>
    param(Int value) {
        if constexpr (std::is_same_v<Int, bool>) {
            text_ = std::string_view(value ? "true" : "false");
        } else {
            owned_ = std::to_string(value);
            text_ = std::string_view();  // engaged; text() reads owned_
            owns_ = true;
        }
    }

    bool is_null() const noexcept { return !text_.has_value(); }
    /** The text; "" for SQL NULL. Valid while this param and what it was made from live. */
    std::string_view text() const noexcept {
        if (owns_) return owned_;
        return text_.value_or(std::string_view());
    }

  private:
    std::optional<std::string_view> text_;  // disengaged: SQL NULL
    std::string owned_;                     // the digits of an integer
    bool owns_ = false;
};

namespace detail {

/** NUL-terminated copies of parameters and the pointer array connpool_lease_exec takes. */
class param_block {
  public:
    template <class Iter>
    param_block(Iter first, Iter last) {
        std::size_t bytes = 0;
        std::size_t count = 0;
        for (Iter it = first; it != last; ++it, ++count) {
            if (!it->is_null()) bytes += it->text().size() + 1;
        }
        storage_.reserve(bytes);
        offsets_.reserve(count);
        for (Iter it = first; it != last; ++it) {
            if (it->is_null()) {
                offsets_.push_back(null_offset);
                continue;
            }
            offsets_.push_back(storage_.size());
            storage_.append(it->text());
            storage_.push_back('\0');
        }
        // Pointers only once storage_ no longer moves.
        pointers_.reserve(count);
        for (std::size_t offset : offsets_)
            pointers_.push_back(offset == null_offset ? nullptr : storage_.data() + offset);
    }

    std::int32_t size() const {
        if (pointers_.size() > 65535)
            throw std::length_error("connpool: more than 65535 parameters");
        return static_cast<std::int32_t>(pointers_.size());
    }
    const char *const *data() const noexcept { return pointers_.data(); }

  private:
    static constexpr std::size_t null_offset = static_cast<std::size_t>(-1);
    std::string storage_;
    std::vector<std::size_t> offsets_;
    std::vector<const char *> pointers_;
};

}  // namespace detail

// ---- results ------------------------------------------------------------------------------------

/** One row of a result: a view, valid while the result lives. */
class row {
  public:
    row(const connpool_result *res, std::int64_t index) noexcept : res_(res), index_(index) {}

    /** The value of column `column` (0-based); std::nullopt for SQL NULL. */
    std::optional<std::string_view> operator[](int column) const {
        const std::int32_t col = column;
        const std::int32_t null = connpool_result_is_null(res_, index_, col);
        if (null < 0)
            throw std::out_of_range("connpool: column " + std::to_string(column) + " out of range");
        if (null == 1) return std::nullopt;
        const char *text = connpool_result_value(res_, index_, col);
        const std::int64_t length = connpool_result_value_length(res_, index_, col);
        return std::string_view(text, static_cast<std::size_t>(length));
    }
    /** The value of the first column named `name`; throws std::out_of_range if there is none. */
    std::optional<std::string_view> operator[](std::string_view name) const {
        const std::int32_t columns = connpool_result_column_count(res_);
        for (std::int32_t c = 0; c < columns; ++c) {
            if (name == connpool_result_column_name(res_, c)) return (*this)[c];
        }
        throw std::out_of_range("connpool: no column named \"" + std::string(name) + "\"");
    }
    /** The value as text, "" for SQL NULL (connpool_result_value's convention). */
    std::string_view text(int column) const { return (*this)[column].value_or(std::string_view()); }
    bool is_null(int column) const { return !(*this)[column].has_value(); }
    /** Number of columns. */
    int size() const noexcept { return connpool_result_column_count(res_); }
    /** The row's 0-based index in its result. */
    std::int64_t index() const noexcept { return index_; }

  private:
    const connpool_result *res_;
    std::int64_t index_;
};

/** Iterates the rows of a result (range-for: `for (connpool::row r : res)`). */
class row_iterator {
  public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = row;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = row;

    row_iterator() noexcept = default;
    row_iterator(const connpool_result *res, std::int64_t index) noexcept
        : res_(res), index_(index) {}

    row operator*() const noexcept { return {res_, index_}; }
    row_iterator &operator++() noexcept {
        ++index_;
        return *this;
    }
    row_iterator operator++(int) noexcept {
        row_iterator before = *this;
        ++index_;
        return before;
    }
    friend bool operator==(const row_iterator &a, const row_iterator &b) noexcept {
        return a.res_ == b.res_ && a.index_ == b.index_;
    }
    friend bool operator!=(const row_iterator &a, const row_iterator &b) noexcept {
        return !(a == b);
    }

  private:
    const connpool_result *res_ = nullptr;
    std::int64_t index_ = 0;
};

/**
 * The outcome of one statement (rows in text format). ok() is false only for a result that
 * lease::try_exec returned for a statement the server rejected. An empty result (default or
 * moved-from) has no rows and no columns; its accessors do not call the library.
 */
class result {
  public:
    result() noexcept = default;
    /** Takes ownership of a connpool_result from the C API. */
    explicit result(connpool_result *adopted) noexcept : handle_(adopted) {}

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    bool ok() const noexcept { return status() == CONNPOOL_OK; }
    /** CONNPOOL_OK or CONNPOOL_ERR_QUERY_FAILED; CONNPOOL_ERR_INVALID_HANDLE when empty. */
    connpool_status status() const noexcept {
        return handle_ ? connpool_result_status(raw()) : CONNPOOL_ERR_INVALID_HANDLE;
    }
    /** The server's message for a rejected statement, "" otherwise. */
    std::string_view error_message() const noexcept {
        return handle_ ? or_empty(connpool_result_error_message(raw())) : "";
    }
    /** The SQLSTATE of a rejected statement (e.g. "23505"), "" otherwise. */
    std::string_view sqlstate() const noexcept {
        return handle_ ? or_empty(connpool_result_sqlstate(raw())) : "";
    }

    /** Number of rows (0 for a command without rows). */
    std::size_t size() const noexcept {
        return handle_ ? count(connpool_result_row_count(raw())) : 0;
    }
    bool empty() const noexcept { return size() == 0; }
    /** Number of columns. */
    int columns() const noexcept {
        return handle_ ? static_cast<int>(count(connpool_result_column_count(raw()))) : 0;
    }
    /** The name of column `column` (0-based); throws std::out_of_range. */
    std::string_view column_name(int column) const {
        const char *name = handle_ ? connpool_result_column_name(raw(), column) : nullptr;
        if (name == nullptr) throw std::out_of_range(column_text(column) + " out of range");
        return name;
    }
    /** Every column's name, in order. */
    std::vector<std::string_view> column_names() const {
        std::vector<std::string_view> names;
        const int n = columns();
        names.reserve(static_cast<std::size_t>(n));
        for (int c = 0; c < n; ++c) names.push_back(column_name(c));
        return names;
    }
    /** The type OID of column `column` (e.g. 23 for int4, 25 for text), 0 if out of range. */
    std::uint32_t column_type(int column) const noexcept {
        return handle_ ? connpool_result_column_type(raw(), column) : 0;
    }
    /** Rows affected as the server's command tag reports them; std::nullopt if it reports none. */
    std::optional<std::int64_t> affected_rows() const noexcept {
        const std::int64_t n = handle_ ? connpool_result_affected_rows(raw()) : -1;
        if (n < 0) return std::nullopt;
        return n;
    }

    /** Row `index` (0-based); throws std::out_of_range. */
    row operator[](std::size_t index) const {
        if (index >= size()) {
            throw std::out_of_range("connpool: row " + std::to_string(index) + " out of range");
        }
        return {raw(), static_cast<std::int64_t>(index)};
    }
    /** The first column of the first row, for one-value queries; throws std::out_of_range. */
    std::optional<std::string_view> scalar() const { return (*this)[0][0]; }

    row_iterator begin() const noexcept { return {raw(), 0}; }
    row_iterator end() const noexcept { return {raw(), static_cast<std::int64_t>(size())}; }

    /** The C handle (still owned by this object). */
    const connpool_result *native_handle() const noexcept { return raw(); }

  private:
    const connpool_result *raw() const noexcept { return handle_.get(); }
    static std::string_view or_empty(const char *text) noexcept {
        return text != nullptr ? std::string_view(text) : std::string_view();
    }
    static std::string column_text(int column) {
        return "connpool: column " + std::to_string(column);
    }
    template <class Int>
    static std::size_t count(Int n) noexcept {
        return n > 0 ? static_cast<std::size_t>(n) : 0;
    }

    std::unique_ptr<connpool_result, detail::result_free> handle_;
};

// ---- leases -------------------------------------------------------------------------------------

/** A borrowed connection; destruction (or release()) returns it to the pool. */
class lease {
  public:
    lease() noexcept = default;
    explicit lease(connpool_lease *adopted) noexcept : handle_(adopted) {}

    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /**
     * Runs one statement with text parameters $1..$n (see connpool::param). Throws
     * connpool::error: CONNPOOL_ERR_QUERY_FAILED with the SQLSTATE when the server rejected it,
     * CONNPOOL_ERR_CONNECTION_BROKEN (release the lease), ...
     */
    template <class... Params>
    result exec(std::string_view sql, const Params &...params) {
        const param list[] = {param(params)..., param(std::nullopt)};  // never empty
        return exec(sql, std::vector<param>(list, list + sizeof...(Params)));
    }
    /** exec with a parameter list built at run time. */
    result exec(std::string_view sql, const std::vector<param> &params) {
        result res = try_exec(sql, params);
        if (!res.ok()) {
            throw error(res.status(), std::string(res.error_message()),
                        std::string(res.sqlstate()));
        }
        return res;
    }

    /**
     * As exec, but a statement the server rejected is not an exception: the result's ok() is
     * false and it carries error_message() and sqlstate(). Other failures still throw.
     */
    template <class... Params>
    result try_exec(std::string_view sql, const Params &...params) {
        const param list[] = {param(params)..., param(std::nullopt)};
        return try_exec(sql, std::vector<param>(list, list + sizeof...(Params)));
    }
    result try_exec(std::string_view sql, const std::vector<param> &params) {
        const detail::param_block block(params.begin(), params.end());
        connpool_result *raw = nullptr;
        detail::error_box box;
        const connpool_status code = connpool_lease_exec(
            &raw, handle_.get(), std::string(sql).c_str(), block.size(), block.data(), &box.ptr);
        result res(raw);
        if (code != CONNPOOL_OK && code != CONNPOOL_ERR_QUERY_FAILED) detail::raise(code, box);
        if (code == CONNPOOL_ERR_QUERY_FAILED && !res) detail::raise(code, box);
        return res;
    }

    /** Returns the connection to the pool now; the lease is empty afterwards. */
    void release() {
        detail::error_box box;
        const connpool_status code = connpool_lease_release(handle_.release(), &box.ptr);
        detail::check(code, box);
    }
    /** Asks the server to cancel the running statement (from another thread: allowed). */
    void cancel() {
        detail::error_box box;
        detail::check(connpool_lease_cancel(handle_.get(), &box.ptr), box);
    }
    /** CONNPOOL_TRANSACTION_IDLE, _ACTIVE, _INTRANS, _INERROR or _UNKNOWN. */
    std::int32_t transaction_status() const {
        std::int32_t state = CONNPOOL_TRANSACTION_UNKNOWN;
        detail::error_box box;
        detail::check(connpool_lease_transaction_status(&state, handle_.get(), &box.ptr), box);
        return state;
    }
    /** The server connection's process-unique id (same for every lease of that connection). */
    std::uint64_t connection_id() const {
        std::uint64_t id = 0;
        detail::error_box box;
        detail::check(connpool_lease_connection_id(&id, handle_.get(), &box.ptr), box);
        return id;
    }
    /** A label shown if the lease is held past the leak_threshold option ("" clears it). */
    void set_label(std::string_view label) {
        detail::error_box box;
        detail::check(connpool_lease_set_label(handle_.get(), std::string(label).c_str(), &box.ptr),
                      box);
    }

    /** The C handle (still owned by this object), e.g. for connpool_lease_pgconn. */
    connpool_lease *native_handle() const noexcept { return handle_.get(); }

  private:
    std::unique_ptr<connpool_lease, detail::lease_release> handle_;
};

// ---- pools --------------------------------------------------------------------------------------

/** A snapshot of a pool's statistics (the C struct; see connpool_stats). */
using stats = connpool_stats;

/** A pool of connections to one server/database/user; destruction closes and frees it. */
class pool {
  public:
    pool() noexcept = default;
    /** A pool with every option at its default. Opens nothing yet (see wait_ready). */
    explicit pool(std::string_view conninfo) { create(conninfo, nullptr); }
    pool(std::string_view conninfo, const options &opts) { create(conninfo, opts.native_handle()); }

    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /** Borrows a connection, waiting up to the pool's acquire_timeout option. */
    lease acquire() { return acquire_ms(-1); }
    /** Borrows a connection, waiting up to `timeout` (0: do not wait). Throws on timeout. */
    template <class Rep, class Period>
    lease acquire(std::chrono::duration<Rep, Period> timeout) {
        return acquire_ms(detail::to_ms(timeout));
    }
    /**
     * Takes an idle connection if one can be had without waiting; std::nullopt otherwise
     * (CONNPOOL_ERR_WOULD_BLOCK). Throws connpool::error for real failures (closed pool...).
     */
    std::optional<lease> try_acquire() {
        connpool_lease *raw = nullptr;
        detail::error_box box;
        const connpool_status code = connpool_pool_try_acquire(&raw, handle_.get(), &box.ptr);
        if (code == CONNPOOL_ERR_WOULD_BLOCK) return std::nullopt;
        detail::check(code, box);
        return lease(raw);
    }

    /** Waits until min_size connections are open (see connpool_pool_wait_ready). */
    template <class Rep, class Period>
    void wait_ready(std::chrono::duration<Rep, Period> timeout) {
        detail::error_box box;
        detail::check(connpool_pool_wait_ready(handle_.get(), detail::to_ms(timeout), &box.ptr),
                      box);
    }
    /** Closes the pool: later acquires fail with CONNPOOL_ERR_POOL_CLOSED. Idempotent. */
    void close() {
        detail::error_box box;
        detail::check(connpool_pool_close(handle_.get(), &box.ptr), box);
    }

    /** A consistent snapshot of the statistics. */
    stats statistics() const {
        stats snapshot{};
        snapshot.struct_size = sizeof snapshot;
        detail::error_box box;
        detail::check(connpool_pool_stats(&snapshot, handle_.get(), &box.ptr), box);
        return snapshot;
    }
    /** The same snapshot as one line of JSON (connpool_pool_stats_json). */
    std::string statistics_json() const {
        char *raw = nullptr;
        detail::error_box box;
        detail::check(connpool_pool_stats_json(&raw, handle_.get(), &box.ptr), box);
        const std::unique_ptr<char, void (*)(char *)> owned(raw, connpool_string_free);
        return std::string(raw);
    }

    /** The C handle (still owned by this object). */
    connpool_pool *native_handle() const noexcept { return handle_.get(); }

  private:
    void create(std::string_view conninfo, const connpool_options *opts) {
        connpool_pool *raw = nullptr;
        detail::error_box box;
        detail::check(connpool_pool_create(&raw, std::string(conninfo).c_str(), opts, &box.ptr),
                      box);
        handle_.reset(raw);
    }
    lease acquire_ms(std::int64_t timeout_ms) {
        connpool_lease *raw = nullptr;
        detail::error_box box;
        detail::check(connpool_pool_acquire(&raw, handle_.get(), timeout_ms, &box.ptr), box);
        return lease(raw);
    }

    std::unique_ptr<connpool_pool, detail::pool_free> handle_;
};

/**
 * The value of statistic `name` (a member of connpool_stats, e.g. "in_use"), found through
 * connpool_stats_field_describe; std::nullopt for a name this library version does not know.
 */
inline std::optional<std::int64_t> stat(const stats &snapshot, std::string_view name) {
    const std::int32_t fields = connpool_stats_field_count();
    for (std::int32_t i = 0; i < fields; ++i) {
        connpool_stats_field field{};
        field.struct_size = sizeof field;
        if (connpool_stats_field_describe(&field, i, nullptr) != CONNPOOL_OK) continue;
        if (name != field.name) continue;
        if (field.offset + sizeof(std::int64_t) > snapshot.struct_size) return std::nullopt;
        std::int64_t value = 0;
        std::memcpy(&value, reinterpret_cast<const unsigned char *>(&snapshot) + field.offset,
                    sizeof value);
        return value;
    }
    return std::nullopt;
}

}  // namespace connpool

#endif  // CONNPOOL_CONNPOOL_HPP
