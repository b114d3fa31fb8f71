package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTP serves /metrics (Prometheus text format), /healthz (200 while the
// process serves HTTP at all) and /readyz (200 once ready reports true:
// registered with the metadata quorum, caught up, serving; 503 before and
// during shutdown).
type HTTP struct {
	srv *http.Server
	ln  net.Listener
}

// ServeHTTP starts serving on ln.
func ServeHTTP(ln net.Listener, m *Metrics, ready func() bool) *HTTP {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	h := &HTTP{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go func() {
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under it: nothing to report to
		}
	}()
	return h
}

// Addr is the bound address.
func (h *HTTP) Addr() net.Addr { return h.ln.Addr() }

// Close stops serving.
func (h *HTTP) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return h.srv.Shutdown(ctx)
}
