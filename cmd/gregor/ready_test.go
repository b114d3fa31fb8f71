package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGregorReady(t *testing.T) {
	ready := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	}))
	defer srv.Close()
	run := func() (string, error) {
		cmd := readyCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"--metrics-addr", strings.TrimPrefix(srv.URL, "http://")})
		err := cmd.Execute()
		return out.String(), err
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("not ready: %v", err)
	}
	ready = true
	if out, err := run(); err != nil || out != "ready\n" {
		t.Fatalf("ready: %q %v", out, err)
	}
}
