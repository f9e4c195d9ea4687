package connpool_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	connpool "github.com/libconnpool/connpool-go"
)

type reply struct {
	status      int
	contentType string
	body        string
}

func request(t *testing.T, srv *httptest.Server, method, path string, header map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// wantJSONError checks a refusal: the status and a JSON body {"error": "..."}.
func wantJSONError(t *testing.T, what string, r reply, status int) {
	t.Helper()
	var body struct {
		Error string `json:"error"`
	}
	if r.status != status || !strings.HasPrefix(r.contentType, "application/json") ||
		json.Unmarshal([]byte(r.body), &body) != nil || body.Error == "" {
		t.Errorf("%s: %d %q %q; want %d with a JSON error", what, r.status, r.contentType, r.body, status)
	}
}

func TestMonitorHandlerReadRoutes(t *testing.T) {
	ci := testConninfo(t)
	name := regName(t)
	p := mustGetOrCreate(t, name, ci, connpool.WithMaxSize(2))
	exec1(t, p)
	srv := httptest.NewServer(connpool.MonitorHandler(""))
	t.Cleanup(srv.Close)

	r := request(t, srv, "GET", "/pools", nil)
	var all struct {
		Pools     map[string]map[string]any `json:"pools"`
		Aggregate map[string]any            `json:"aggregate"`
	}
	if r.status != 200 || !strings.HasPrefix(r.contentType, "application/json") || json.Unmarshal([]byte(r.body), &all) != nil ||
		all.Pools[name]["acquired"] != float64(1) || all.Aggregate["pools"] == nil {
		t.Errorf("GET /pools: %d %q %s", r.status, r.contentType, r.body)
	}
	r = request(t, srv, "GET", "/pools/"+name, nil)
	if r.status != 200 || !strings.HasPrefix(r.contentType, "application/json") || !strings.Contains(r.body, `"`+name+`"`) || !json.Valid([]byte(r.body)) {
		t.Errorf("GET /pools/%s: %d %q %s", name, r.status, r.contentType, r.body)
	}
	wantJSONError(t, "GET /pools/<unknown>", request(t, srv, "GET", "/pools/go-no-such-pool", nil), 404)

	r = request(t, srv, "GET", "/health?verbose=1", nil) // a query string is ignored
	var health connpool.RegistryHealthReport
	if r.status != 200 || json.Unmarshal([]byte(r.body), &health) != nil || health.Status != connpool.Healthy {
		t.Errorf("GET /health: %d %s", r.status, r.body)
	}
	r = request(t, srv, "GET", "/metrics", nil)
	if r.status != 200 || !strings.HasPrefix(r.contentType, "text/plain") || !strings.Contains(r.body, `pool_name="`+name+`"`) {
		t.Errorf("GET /metrics: %d %q %s", r.status, r.contentType, r.body)
	}
	r = request(t, srv, "GET", "/metrics", map[string]string{"Accept": "application/openmetrics-text; version=1.0.0"})
	if r.status != 200 || !strings.HasPrefix(r.contentType, "application/openmetrics-text") || !strings.HasSuffix(r.body, "# EOF\n") {
		t.Errorf("GET /metrics for OpenMetrics: %d %q %s", r.status, r.contentType, r.body)
	}

	if r := request(t, srv, "HEAD", "/health", nil); r.status != 200 || r.body != "" {
		t.Errorf("HEAD /health: %d %q; want 200 without a body", r.status, r.body)
	}
	wantJSONError(t, "GET /pools/<invalid name>", request(t, srv, "GET", "/pools/bad%20name", nil), 400)
	wantJSONError(t, "GET /nothing", request(t, srv, "GET", "/nothing", nil), 404)
	wantJSONError(t, "DELETE /pools", request(t, srv, "DELETE", "/pools", nil), 405)
	wantJSONError(t, "POST /health", request(t, srv, "POST", "/health", nil), 405)
	wantJSONError(t, "PUT /metrics", request(t, srv, "PUT", "/metrics", nil), 405)
}

func TestMonitorHandlerMutatingRoutes(t *testing.T) {
	ci := testConninfo(t)
	name, other := regName(t), regName(t)
	mustGetOrCreate(t, name, ci)
	mustGetOrCreate(t, other, ci)

	off := httptest.NewServer(connpool.MonitorHandler(""))
	t.Cleanup(off.Close)
	on := httptest.NewServer(connpool.MonitorHandler("s3cret-token"))
	t.Cleanup(on.Close)
	bearer := map[string]string{"Authorization": "Bearer s3cret-token"}

	wantJSONError(t, "close without a configured token", request(t, off, "POST", "/pools/"+name+"/close", bearer), 403)
	wantJSONError(t, "close-all without a configured token", request(t, off, "POST", "/pools/close-all", bearer), 403)
	wantJSONError(t, "close without Authorization", request(t, on, "POST", "/pools/"+name+"/close", nil), 401)
	wantJSONError(t, "close with a wrong token", request(t, on, "POST", "/pools/"+name+"/close",
		map[string]string{"Authorization": "Bearer s3cret-tokex"}), 401)
	wantJSONError(t, "close with a Basic header", request(t, on, "POST", "/pools/"+name+"/close",
		map[string]string{"Authorization": "Basic czNjcmV0LXRva2Vu"}), 401)
	wantJSONError(t, "GET on a close route", request(t, on, "GET", "/pools/"+name+"/close", bearer), 405)
	if _, err := connpool.Lookup(name); err != nil {
		t.Fatalf("a refused close closed the pool: %v", err)
	}

	r := request(t, on, "POST", "/pools/"+name+"/close", bearer)
	if r.status != 200 || !json.Valid([]byte(r.body)) {
		t.Errorf("authorised close: %d %s", r.status, r.body)
	}
	if _, err := connpool.Lookup(name); !errors.Is(err, connpool.ErrNotFound) {
		t.Errorf("after POST /pools/%s/close, Lookup: %v; want ErrNotFound", name, err)
	}
	wantJSONError(t, "close of an unknown pool", request(t, on, "POST", "/pools/"+name+"/close", bearer), 404)

	r = request(t, on, "POST", "/pools/close-all", bearer)
	if r.status != 200 {
		t.Errorf("authorised close-all: %d %s", r.status, r.body)
	}
	if names, _ := connpool.Names(); len(names) != 0 {
		t.Errorf("after close-all, Names() = %q", names)
	}
}

func TestMonitorHandlerHealthIs503WhenUnhealthy(t *testing.T) {
	name := regName(t)
	p := mustGetOrCreate(t, name, "host=/nonexistent-connpool-dir port=1 dbname=x user=x",
		connpool.WithBreakerThreshold(1), connpool.WithConnectTimeout(time.Second))
	_, _ = p.Exec(ctxTimeout(t, 3*time.Second), "SELECT 1")
	waitFor(t, 5*time.Second, "the breaker to open", func() bool { return mustStat(t, p).BreakerState == connpool.BreakerOpen })
	srv := httptest.NewServer(connpool.MonitorHandler(""))
	t.Cleanup(srv.Close)
	r := request(t, srv, "GET", "/health", nil)
	var health connpool.RegistryHealthReport
	if r.status != 503 || json.Unmarshal([]byte(r.body), &health) != nil || health.Status != connpool.Unhealthy || len(health.Warnings) == 0 {
		t.Errorf("GET /health with an unhealthy pool: %d %s; want 503 with warnings", r.status, r.body)
	}
}

func TestMonitorHandlerRefusesNUL(t *testing.T) {
	h := connpool.MonitorHandler("tok")
	req := httptest.NewRequest("POST", "/pools/close-all", nil)
	req.Header.Set("Authorization", "Bearer tok\x00extra")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "NUL") {
		t.Errorf("an Authorization with NUL: %d %s; want 400", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	connpool.MonitorHandler("t\x00k").ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != 500 {
		t.Errorf("a token with NUL: %d %s; want 500 (misconfigured)", rec.Code, rec.Body.String())
	}
	// Mounted under a prefix with http.StripPrefix.
	mux := http.NewServeMux()
	mux.Handle("/connpool/", http.StripPrefix("/connpool", connpool.MonitorHandler("")))
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/connpool/health", nil))
	if rec.Code != 200 && rec.Code != 503 {
		t.Errorf("GET /connpool/health through StripPrefix: %d %s", rec.Code, rec.Body.String())
	}
}
