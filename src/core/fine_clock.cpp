#include "core/fine_clock.hpp"

namespace connpool {
namespace {

double measure_ns_per_tick() {
#ifdef CONNPOOL_FINE_CLOCK_TSC
    using std::chrono::steady_clock;
    // Spin until steady_clock has advanced 200 µs: enough for an error far below the
    // histograms' bucket resolution (12.5 %), short enough to go unnoticed once per process.
    const steady_clock::time_point t0 = steady_clock::now();
    const int64_t c0 = fine_ticks();
    steady_clock::time_point t1;
    int64_t c1 = c0;
    do {
        t1 = steady_clock::now();
        c1 = fine_ticks();
    } while (t1 - t0 < std::chrono::microseconds(200));
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    if (c1 <= c0) return 1.0;  // a counter that does not advance: treat ticks as ns
    return static_cast<double>(ns) / static_cast<double>(c1 - c0);
#else
    return 1.0;
#endif
}

}  // namespace

double fine_ns_per_tick() {
    static const double factor = measure_ns_per_tick();
    return factor;
}

}  // namespace connpool
