package main

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gregor-dev/gregor/internal/config"
)

// loadServe parses serve's flags and loads the configuration they give,
// without starting anything.
func loadServe(t *testing.T, env []string, args ...string) (*config.Broker, error) {
	t.Helper()
	var f serveFlags
	cmd := newServeCmd(&f)
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return loadConfig(cmd, &f, env)
}

func writeProps(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeFlagErrorsNameTheFlag(t *testing.T) {
	tests := []struct {
		args   []string
		origin string
		key    string
	}{
		{[]string{"--listen", "9092"}, "--listen", "listeners"},
		{[]string{"--advertise", "0.0.0.0:9092"}, "--advertise", "advertised.listeners"},
		{[]string{"--node-id", "-3"}, "--node-id", "node.id"},
		{[]string{"--voters", "1@nowhere"}, "--voters", "controller.quorum.voters"},
		{[]string{"--data-dir", "/a,/b"}, "--data-dir", "log.dirs"},
		{[]string{"--controller-listen", "9093"}, "--controller-listen", "listeners"},
		{[]string{"--set", "listeners=9092"}, "--set", "listeners"},
	}
	for _, tt := range tests {
		_, err := loadServe(t, nil, tt.args...)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Origin != tt.origin || ce.Key != tt.key {
			t.Errorf("%v: err = %v, want %s from %s", tt.args, err, tt.key, tt.origin)
		}
		if !strings.Contains(err.Error(), "("+tt.origin+")") {
			t.Errorf("%v: message %q does not name %s", tt.args, err, tt.origin)
		}
	}
}

func TestServeListenerFlags(t *testing.T) {
	sample := writeProps(t, "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n"+
		"advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093\n"+
		"controller.quorum.bootstrap.servers=localhost:9093\n")
	tests := []struct {
		name                   string
		args                   []string
		listen, ctl, advertise string
		voters                 map[int32]string
	}{
		{"defaults", nil, ":9092", "", "localhost:9092", map[int32]string{1: ""}},
		{"--listen", []string{"--listen", "127.0.0.1:19092"}, "127.0.0.1:19092", "", "127.0.0.1:19092", nil},
		{"--controller-listen", []string{"--listen", "127.0.0.1:0", "--controller-listen", "127.0.0.1:19093"}, "127.0.0.1:0", "127.0.0.1:19093", "127.0.0.1:0", nil},
		{"--controller-listen alone", []string{"--controller-listen", ":19093"}, ":9092", ":19093", "localhost:9092", nil},
		{"--listen keeps the file's controller listener", []string{"--config", sample, "--listen", ":19092", "--advertise", "broker:19092"},
			":19092", ":9093", "broker:19092", map[int32]string{1: "localhost:9093"}},
		{"named --listen", []string{"--config", sample, "--listen", "PLAINTEXT://127.0.0.1:19092"}, "127.0.0.1:19092", ":9093", "localhost:9092", nil},
		{"--listen with its own controller entry", []string{"--listen", "PLAINTEXT://:1,CONTROLLER://:2"}, ":1", ":2", "localhost:1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadServe(t, nil, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ListenAddr() != tt.listen || cfg.ControllerListenAddr() != tt.ctl || cfg.AdvertisedAddr() != tt.advertise {
				t.Errorf("listen %q controller %q advertised %q", cfg.ListenAddr(), cfg.ControllerListenAddr(), cfg.AdvertisedAddr())
			}
			if tt.voters != nil && !maps.Equal(cfg.QuorumVoters(), tt.voters) {
				t.Errorf("voters %v", cfg.QuorumVoters())
			}
		})
	}
}

func TestServeUnknownKeysReportedTogether(t *testing.T) {
	file := writeProps(t, "num.partiton=3\nlog.dirs=/tmp/x\n")
	_, err := loadServe(t, []string{"GREGOR_NUM_PARTITONS=3"}, "--config", file, "--set", "listners=:9092")
	var es config.Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("err = %v, want the two unknown keys (an unknown GREGOR_ variable is only a warning)", err)
	}
	for _, want := range []string{`"num.partiton" (` + file + `:1); did you mean "num.partitions"?`, `"listners" (--set); did you mean "listeners"?`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}
