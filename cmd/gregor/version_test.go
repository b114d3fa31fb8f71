package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFormat(t *testing.T) {
	bi := func(version string, settings ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return b
	}
	tests := []struct {
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{nil, false, "unknown (no build information)"},
		{bi(""), true, "(devel), commit unknown, go1.99"},
		{bi("(devel)"), true, "(devel), commit unknown, go1.99"},
		{bi("v1.2.3", "vcs.revision", "abc123", "vcs.time", "2025-01-02T03:04:05Z", "vcs.modified", "false"), true,
			"v1.2.3, commit abc123 of 2025-01-02T03:04:05Z, go1.99"},
		{bi("v0.0.0-20250102030405-abc123+dirty", "vcs.revision", "abc123", "vcs.modified", "true"), true,
			"v0.0.0-20250102030405-abc123+dirty, commit abc123 (modified), go1.99"},
	}
	for _, tt := range tests {
		if got := formatVersion(tt.bi, tt.ok); got != tt.want {
			t.Errorf("formatVersion = %q, want %q", got, tt.want)
		}
	}
	if v := version(); !strings.Contains(v, "go1.") {
		t.Errorf("version() = %q", v)
	}
}
