package host

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: nil when the thing it names answers.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// checkTimeout bounds one readiness check.
const checkTimeout = 2 * time.Second

// OpsHandler serves the operations endpoints of a Listen: /metrics
// (Prometheus, from reg), /healthz (200 while the process runs) and
// /readyz (200 when every check passes, else 503 naming the ones that
// failed). Check errors are reduced to their first line; they must hold
// no secret (the sink's errors never hold the DSN's password).
func OpsHandler(reg *prometheus.Registry, checks ...Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		var failed []string
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			err := c.Run(ctx)
			cancel()
			if err != nil {
				line, _, _ := strings.Cut(err.Error(), "\n")
				failed = append(failed, c.Name+": "+line)
			}
		}
		if len(failed) > 0 {
			http.Error(w, "not ready: "+strings.Join(failed, "; "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
