package connpool

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"time"
)

// The pools of a process: libconnpool keeps one registry of named pools per process, shared by
// everything loaded into it. A pool registered from Go is the pool C code or Python (ctypes)
// in the same process reaches by its name, with one set of connections and counters.
//
// Every GetOrCreate and Lookup returns a new *Pool with its own handle. A *Pool that becomes
// unreachable frees its handle only: the pool stays registered and open. Pool.Close closes
// the pool for every holder (every handle, every language) and unregisters it, as Close(name)
// and CloseAll do. Registered pools are not closed at process exit: call CloseAll first.
//
// Names: 1 to 63 characters from [A-Za-z0-9_.-].

// GetOrCreate returns the registered pool called name, creating and registering it (with
// conninfo and opts, as Open takes them) if there is none. An existing pool is returned only
// when conninfo and the options equal those it was created with; otherwise the error is
// ErrConflict, naming the first difference (never a password). It never waits for the server.
// A WithName option is refused: the pool's name is name.
func GetOrCreate(name, conninfo string, opts ...Option) (*Pool, error) {
	for _, o := range opts {
		if o.key == "name" {
			return nil, &Error{Status: StatusInvalidArgument,
				Message: "GetOrCreate takes the pool's name as its first argument; drop the WithName option"}
		}
	}
	h, settings, cfg, err := withOptions(opts, func(o uintptr) (uintptr, error) {
		return cRegistryGetOrCreate(name, conninfo, o)
	})
	if err != nil {
		return nil, err
	}
	return wrapHandle(h, settings, cfg, true)
}

// Lookup returns a new handle to the registered pool called name, or ErrNotFound. The pool may
// have been registered from C, Python or Go. (Its waiting is left to the library: its
// acquire_timeout and max_waiting are whatever it was created with.)
func Lookup(name string) (*Pool, error) {
	h, err := cRegistryLookup(name)
	if err != nil {
		return nil, err
	}
	return wrapHandle(h, nil, bindingConfig{}, false)
}

// Names returns the names of the registered pools, sorted.
func Names() ([]string, error) {
	text, err := cRegistryNames()
	if err != nil {
		return nil, err
	}
	if text == "" {
		return []string{}, nil
	}
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n"), nil
}

// Close closes the registered pool called name for every holder and unregisters it (the name
// is free at once). ErrNotFound if there is none. It blocks as Pool.Close.
func Close(name string) error { return cRegistryClose(name) }

// CloseAll closes and unregisters every registered pool.
func CloseAll() error { return cRegistryCloseAll() }

// SetConnectionBudget caps the open connections of all registered pools together at
// maxConnections (0 turns the cap off, the default). A pool that needs a connection while the
// budget is spent closes an idle connection of another registered pool, else waits within its
// acquire timeout. ErrInvalidArgument for a negative value.
func SetConnectionBudget(maxConnections int) error {
	if maxConnections > math.MaxInt32 || maxConnections < math.MinInt32 {
		return &Error{Status: StatusInvalidArgument,
			Message: fmt.Sprintf("connection budget %d is out of range", maxConnections)}
	}
	return cRegistrySetConnectionBudget(int32(maxConnections))
}

// RegistryStats is AllStats' snapshot: every registered pool's statistics and their aggregate.
type RegistryStats struct {
	Pools     map[string]Stats // by pool name
	Aggregate AggregateStats
}

// AggregateStats sums the statistics of all registered pools. Sums of the counters and gauges
// are what they say; per-pool ratios (Stats.Health, the percentiles) have no meaningful sum, and
// UtilisationPercent below (the overall figure) takes the place of Stats.UtilisationPercent.
type AggregateStats struct {
	Stats                      // each field summed over the pools
	Pools              int     // registered pools
	UtilisationPercent float64 // connections in use over the sum of max_size + max_overflow
	ReuseRatio         float64 // reused / created (0 when none created)
}

// AllStats returns the statistics of every registered pool and their aggregate (the library's
// connpool_registry_stats_json, decoded).
func AllStats() (RegistryStats, error) {
	text, err := cRegistryStatsJSON()
	if err != nil {
		return RegistryStats{}, err
	}
	return decodeRegistryStats(text)
}

// AllStatsJSON returns the same snapshot as the library renders it (what GET /pools answers).
func AllStatsJSON() (string, error) { return cRegistryStatsJSON() }

func decodeRegistryStats(text string) (RegistryStats, error) {
	// Values are numbers, except a pool's "name" and "closed_pool": decoded as any, numbers
	// kept exact (json.Number).
	var raw struct {
		Pools     map[string]map[string]any `json:"pools"`
		Aggregate map[string]any            `json:"aggregate"`
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return RegistryStats{}, fmt.Errorf("connpool: cannot decode the registry's statistics: %w", err)
	}
	out := RegistryStats{Pools: make(map[string]Stats, len(raw.Pools))}
	for name, fields := range raw.Pools {
		out.Pools[name] = statsFromJSON(fields)
	}
	a := raw.Aggregate
	out.Aggregate.Stats = statsFromJSON(a)
	pools, _ := number(a["pools"]).Int64()
	out.Aggregate.Pools = int(pools)
	out.Aggregate.UtilisationPercent, _ = number(a["utilisation_percent"]).Float64()
	out.Aggregate.ReuseRatio, _ = number(a["reuse_ratio"]).Float64()
	return out, nil
}

// number is v as a json.Number ("" when it is not a number).
func number(v any) json.Number {
	n, _ := v.(json.Number)
	return n
}

var durationType = reflect.TypeOf(time.Duration(0))

// statsFromJSON fills a Stats from the library's JSON keys (its `stat` tags); other keys (name,
// closed_pool...) and fields missing from the JSON are left alone. Duration fields are
// microseconds in the JSON.
func statsFromJSON(fields map[string]any) Stats {
	var s Stats
	v := reflect.ValueOf(&s).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		n := number(fields[t.Field(i).Tag.Get("stat")])
		if n == "" {
			continue
		}
		x, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil {
				continue
			}
			x = int64(f)
		}
		if t.Field(i).Type == durationType {
			v.Field(i).SetInt(int64(microseconds(x)))
		} else if v.Field(i).Kind() == reflect.Int64 {
			v.Field(i).SetInt(x)
		}
	}
	return s
}

// HealthStatus is a health verdict (CONNPOOL_HEALTH_*).
type HealthStatus int32

// Health verdicts, from the library's defaults (README "Health and metrics"): healthy below
// 80 % utilisation with no recent error; degraded at 80-95 % or with some errors; unhealthy
// above 95 %, with more than 10 errors in the window, or with the circuit breaker open.
const (
	Healthy   HealthStatus = 0
	Degraded  HealthStatus = 1
	Unhealthy HealthStatus = 2
)

var healthNames = [...]string{"healthy", "degraded", "unhealthy"}

// String returns "healthy", "degraded" or "unhealthy".
func (h HealthStatus) String() string {
	if h >= 0 && int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("HealthStatus(%d)", int32(h))
}

// MarshalText writes the verdict's name, as the library's JSON has it.
func (h HealthStatus) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads "healthy", "degraded" or "unhealthy".
func (h *HealthStatus) UnmarshalText(b []byte) error {
	for i, n := range healthNames {
		if string(b) == n {
			*h = HealthStatus(i)
			return nil
		}
	}
	return fmt.Errorf("connpool: unknown health status %q", b)
}

// PoolHealth is one pool's verdict with its reasons.
type PoolHealth struct {
	Name               string       `json:"name"`
	Status             HealthStatus `json:"status"`
	UtilisationPercent float64      `json:"utilisation_percent"`
	RecentErrors       int64        `json:"recent_errors"`
	BreakerState       int64        `json:"breaker_state"`
	Reasons            []string     `json:"reasons"` // one sentence each
}

// RegistryHealthReport is the registry-wide verdict: unhealthy if any registered pool is, else
// degraded if any is, else healthy (also when no pool is registered).
type RegistryHealthReport struct {
	Status       HealthStatus          `json:"status"`
	Pools        map[string]PoolHealth `json:"pools"`
	HealthyPools int                   `json:"healthy_pools"`
	TotalPools   int                   `json:"total_pools"`
	Warnings     []string              `json:"warnings"` // "<name>: <reason>"
}

// RegistryHealth returns the registry-wide verdict (what GET /health answers).
func RegistryHealth() (RegistryHealthReport, error) {
	var r RegistryHealthReport
	text, err := cRegistryHealthJSON()
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		return r, fmt.Errorf("connpool: cannot decode the registry's health: %w", err)
	}
	return r, nil
}

// Health returns the pool's verdict now, with its reasons. A closed pool is unhealthy. It
// works on any pool, registered or not.
func (p *Pool) Health() (PoolHealth, error) {
	var h PoolHealth
	text, err := cPoolHealthJSON(p.handle)
	runtime.KeepAlive(p)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal([]byte(text), &h); err != nil {
		return h, fmt.Errorf("connpool: cannot decode the pool's health: %w", err)
	}
	return h, nil
}

// MetricsFormat selects a metrics exposition format.
type MetricsFormat int32

// Metrics formats.
const (
	Prometheus  MetricsFormat = metricsPrometheus  // text/plain; version=0.0.4
	OpenMetrics MetricsFormat = metricsOpenMetrics // application/openmetrics-text; version=1.0.0
)

// Metrics returns the metrics of every registered pool in one exposition (README "Health and
// metrics" maps the names to OpenTelemetry's db.client.connection.* metrics).
func Metrics(format MetricsFormat) (string, error) { return cRegistryMetrics(format) }

// Metrics returns the pool's metrics in format.
func (p *Pool) Metrics(format MetricsFormat) (string, error) {
	s, err := cPoolMetrics(p.handle, format)
	runtime.KeepAlive(p)
	return s, err
}
