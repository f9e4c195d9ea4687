package connpool

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// MonitorHandler returns an http.Handler serving the monitoring routes through the library's
// router (connpool_monitor_handle), so it answers exactly as the embedded C exporter and the
// Python WSGI/ASGI apps do:
//
//	GET  /pools                 statistics of all registered pools + aggregate (JSON)
//	GET  /pools/{name}          one pool's statistics and health (JSON; 404 if unknown)
//	GET  /health                registry verdict (JSON): 200 healthy or degraded, 503 unhealthy
//	GET  /metrics               Prometheus text (OpenMetrics when Accept asks for it)
//	POST /pools/{name}/close    close one pool   } only with an admin token, and the request's
//	POST /pools/close-all       close every pool } "Authorization: Bearer <token>"
//
// Other paths get 404, other methods 405; the mutating routes answer 403 when adminToken is ""
// and 401 to a request without the right token. Mount it under a prefix with
// http.StripPrefix:
//
//	mux.Handle("/connpool/", http.StripPrefix("/connpool", connpool.MonitorHandler(token)))
//
// A close route blocks as Pool.Close (bounded); nothing a client sends holds a pool lock.
func MonitorHandler(adminToken string) http.Handler {
	return monitorHandler{token: adminToken}
}

type monitorHandler struct{ token string }

func (h monitorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The raw path (still percent-encoded), as the C exporter sees the request target.
	target := r.URL.EscapedPath()
	if target == "" {
		target = "/"
	}
	auth, accept := r.Header.Get("Authorization"), r.Header.Get("Accept")
	if hasNUL(h.token) {
		writeMonitorError(w, http.StatusInternalServerError, "the monitor's admin token contains a NUL character: fix its configuration")
		return
	}
	if hasNUL(r.Method, target, auth, accept) {
		// A C string ends at NUL: such a value cannot reach the router intact.
		writeMonitorError(w, http.StatusBadRequest, "the request contains a NUL character")
		return
	}
	reply, err := cMonitorHandle(r.Method, target, auth, accept, h.token)
	if err != nil {
		writeMonitorError(w, http.StatusInternalServerError, err.Error())
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", reply.contentType)
	hdr.Set("Content-Length", strconv.Itoa(len(reply.body)))
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(reply.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(reply.body))
	}
}

func hasNUL(values ...string) bool {
	for _, v := range values {
		if strings.IndexByte(v, 0) >= 0 {
			return true
		}
	}
	return false
}

func writeMonitorError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
