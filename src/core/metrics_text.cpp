#include "core/metrics_text.hpp"

#include <fmt/format.h>

#include <array>
#include <functional>
#include <string_view>
#include <vector>

namespace connpool {
namespace {

enum class Type { gauge, counter, histogram };

// One metric family: its name (a counter's without _total), type, unit suffix ("" if none) and
// how each pool's samples are written.
struct Family {
    std::string name;
    Type type;
    std::string unit;  // "seconds", "ratio" or ""
    std::string help;
    // Writes the samples of one pool for this family.
    std::function<void(class Exposition &, const PoolObservation &)> samples;
};

std::string escape_label_value(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string escape_help(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"') {
            out += '\'';  // OpenMetrics escapes quotes in HELP, Prometheus 0.0.4 does not
        } else {
            out += c;
        }
    }
    return out;
}

// Shortest text that reads back as the same double ("1e-06", "0.25", "3").
std::string number(double value) {
    return fmt::format("{}", value);
}

class Exposition {
  public:
    explicit Exposition(MetricsFormat format) : format_(format) {}

    void header(const Family &f) {
        const char *type = f.type == Type::gauge     ? "gauge"
                           : f.type == Type::counter ? "counter"
                                                     : "histogram";
        if (format_ == MetricsFormat::openmetrics) {
            out_ += fmt::format("# TYPE {} {}\n", f.name, type);
            if (!f.unit.empty()) out_ += fmt::format("# UNIT {} {}\n", f.name, f.unit);
            out_ += fmt::format("# HELP {} {}\n", f.name, escape_help(f.help));
        } else {
            // Prometheus 0.0.4 names a counter's family by its sample name.
            const std::string name = f.type == Type::counter ? f.name + "_total" : f.name;
            out_ +=
                fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escape_help(f.help), name, type);
        }
    }
    // `labels`: already formatted, without braces ("" for none besides pool_name).
    void sample(std::string_view name, const PoolObservation &pool, std::string_view labels,
                std::string_view value) {
        out_ += fmt::format("{}{{pool_name=\"{}\"{}{}}} {}\n", name, escape_label_value(pool.name),
                            labels.empty() ? "" : ",", labels, value);
    }
    void histogram(const std::string &name, const PoolObservation &pool,
                   const HistogramSnapshot &h) {
        for (int64_t bound : metrics_histogram_bounds_ns()) {
            sample(name + "_bucket", pool,
                   fmt::format("le=\"{}\"", number(static_cast<double>(bound) / 1e9)),
                   std::to_string(h.count_below(bound)));
        }
        sample(name + "_bucket", pool, "le=\"+Inf\"", std::to_string(h.count));
        sample(name + "_count", pool, "", std::to_string(h.count));
        sample(name + "_sum", pool, "", number(static_cast<double>(h.sum_ns) / 1e9));
    }
    std::string finish() {
        if (format_ == MetricsFormat::openmetrics) out_ += "# EOF\n";
        return std::move(out_);
    }

  private:
    MetricsFormat format_;
    std::string out_;
};

// The OpenTelemetry families (semantic conventions for database client connection metrics).
std::vector<Family> otel_families() {
    std::vector<Family> families;
    families.push_back(
        {"db_client_connections_usage", Type::gauge, "",
         "Connections in the state given by the state label (idle or used); OpenTelemetry "
         "db.client.connection.count (named db.client.connections.usage before semantic "
         "conventions 1.26: a gauge ending in _count is refused by promtool)",
         [](Exposition &e, const PoolObservation &p) {
             e.sample("db_client_connections_usage", p, "state=\"idle\"",
                      std::to_string(p.stats.idle));
             e.sample("db_client_connections_usage", p, "state=\"used\"",
                      std::to_string(p.stats.in_use));
         }});
    auto simple = [&](const char *name, Type type, const char *help, auto value) {
        families.push_back(
            {name, type, "", help, [name, type, value](Exposition &e, const PoolObservation &p) {
                 const std::string sample =
                     type == Type::counter ? std::string(name) + "_total" : name;
                 e.sample(sample, p, "", std::to_string(value(p.stats)));
             }});
    };
    simple("db_client_connection_idle_max", Type::gauge,
           "The maximum number of idle open connections allowed (max_size); OpenTelemetry "
           "db.client.connection.idle.max",
           [](const PoolStats &s) { return s.max_size; });
    simple("db_client_connection_idle_min", Type::gauge,
           "The minimum number of idle open connections allowed (min_size); OpenTelemetry "
           "db.client.connection.idle.min",
           [](const PoolStats &s) { return s.min_size; });
    simple("db_client_connection_max", Type::gauge,
           "The maximum number of open connections allowed (max_size + max_overflow); "
           "OpenTelemetry db.client.connection.max",
           [](const PoolStats &s) { return s.max_size + s.max_overflow; });
    simple("db_client_connection_pending_requests", Type::gauge,
           "The number of current pending requests for an open connection; OpenTelemetry "
           "db.client.connection.pending_requests",
           [](const PoolStats &s) { return s.waiting; });
    simple("db_client_connection_timeouts", Type::counter,
           "The number of connection timeouts that have occurred trying to obtain a connection "
           "from the pool; OpenTelemetry db.client.connection.timeouts",
           [](const PoolStats &s) { return s.acquire_timeouts; });
    auto histogram = [&](const char *name, const char *help,
                         HistogramSnapshot PoolHistograms::*which) {
        families.push_back({name, Type::histogram, "seconds", help,
                            [name, which](Exposition &e, const PoolObservation &p) {
                                e.histogram(name, p, p.histograms.*which);
                            }});
    };
    histogram("db_client_connection_create_time_seconds",
              "The time it took to create a new connection; OpenTelemetry "
              "db.client.connection.create_time",
              &PoolHistograms::connect);
    histogram("db_client_connection_wait_time_seconds",
              "The time it took to obtain an open connection from the pool (every successful "
              "acquire, recorded when its lease is released); OpenTelemetry "
              "db.client.connection.wait_time",
              &PoolHistograms::acquire_wait);
    histogram("db_client_connection_use_time_seconds",
              "The time between borrowing a connection and returning it to the pool; "
              "OpenTelemetry db.client.connection.use_time",
              &PoolHistograms::lease_hold);
    return families;
}

// Statistics shown by the OpenTelemetry families already.
bool covered_by_otel(std::string_view stat) {
    for (std::string_view name :
         {"total", "idle", "in_use", "waiting", "max_size", "min_size", "acquire_timeouts"}) {
        if (stat == name) return true;
    }
    return false;
}

// A statistic's family: connpool_<name> in base units. A unit word (_ns, _us, _ms, _percent)
// anywhere in the name moves to the end as _seconds or _ratio and the value is scaled; a
// counter's own _total is dropped (the exposition adds it back).
Family stat_family(const StatField &field) {
    struct Unit {
        std::string_view word;
        const char *base;
        double scale;
    };
    static constexpr std::array<Unit, 4> kUnits = {{{"ns", "seconds", 1e-9},
                                                    {"us", "seconds", 1e-6},
                                                    {"ms", "seconds", 1e-3},
                                                    {"percent", "ratio", 0.01}}};
    const bool counter = field.kind == StatKind::counter;
    std::vector<std::string> words;
    for (std::string_view rest = field.name; !rest.empty();) {
        const size_t cut = rest.find('_');
        words.emplace_back(rest.substr(0, cut));
        rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 1);
    }
    if (counter && words.size() > 1 && words.back() == "total") words.pop_back();
    std::string unit;
    double scale = 1.0;
    for (auto it = words.begin(); it != words.end(); ++it) {
        for (const Unit &u : kUnits) {
            if (*it == u.word) {
                unit = u.base;
                scale = u.scale;
                words.erase(it);
                break;
            }
        }
        if (!unit.empty()) break;
    }
    std::string name = "connpool";
    for (const std::string &w : words) name += "_" + w;
    if (!unit.empty()) name += "_" + unit;
    std::string help = field.doc;
    if (!unit.empty()) help += fmt::format(" (exposed in {})", unit);
    const std::string sample = counter ? name + "_total" : name;
    int64_t PoolStats::*member = field.member;
    return {name, counter ? Type::counter : Type::gauge, unit, help,
            [sample, member, scale](Exposition &e, const PoolObservation &p) {
                const int64_t value = p.stats.*member;
                e.sample(sample, p, "",
                         scale == 1.0 ? std::to_string(value)
                                      : number(static_cast<double>(value) * scale));
            }};
}

const std::vector<Family> &all_families() {
    static const std::vector<Family> families = [] {
        std::vector<Family> list = otel_families();
        for (const StatField &field : kStatFields) {
            if (!covered_by_otel(field.name)) list.push_back(stat_family(field));
        }
        return list;
    }();
    return families;
}

constexpr std::array<int64_t, 14> kBoundsNs = {
    int64_t{1} << 10, int64_t{1} << 12, int64_t{1} << 14, int64_t{1} << 16, int64_t{1} << 18,
    int64_t{1} << 20, int64_t{1} << 22, int64_t{1} << 24, int64_t{1} << 26, int64_t{1} << 28,
    int64_t{1} << 30, int64_t{1} << 32, int64_t{1} << 34, int64_t{1} << 36};
static_assert(LatencyHistogram::lower_bound(LatencyHistogram::bucket_of(int64_t{1} << 36)) ==
              int64_t{1} << 36);

}  // namespace

std::span<const int64_t> metrics_histogram_bounds_ns() {
    return kBoundsNs;
}

const char *metrics_content_type(MetricsFormat format) {
    return format == MetricsFormat::openmetrics
               ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
               : "text/plain; version=0.0.4; charset=utf-8";
}

std::string render_metrics(std::span<const PoolObservation> pools, MetricsFormat format) {
    Exposition exposition(format);
    if (!pools.empty()) {
        for (const Family &family : all_families()) {
            exposition.header(family);
            for (const PoolObservation &pool : pools) family.samples(exposition, pool);
        }
    }
    return exposition.finish();
}

}  // namespace connpool
