package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Raft's lines come out as slog records at their level, with their fields;
// a message repeated within the quiet period is dropped.
func TestClusterRaftLogThroughSlog(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	l := raftLogger(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})), hclog.Info, 10*time.Second, func() time.Time { return now })
	l.Error("failed to heartbeat to", "peer", "a", "backoff time", "500ms")
	now = now.Add(time.Second)
	l.Error("failed to heartbeat to", "peer", "b") // same message: dropped
	l.Info("entering follower state", "follower", "x")
	now = now.Add(10 * time.Second)
	l.Error("failed to heartbeat to", "peer", "c") // after the quiet period: kept
	l.Debug("below the level")                     // hclog's level filters first
	got := out.String()
	for _, want := range []string{
		`level=ERROR msg="failed to heartbeat to" component=raft "backoff time"=500ms peer=a`,
		`level=INFO msg="entering follower state" component=raft follower=x`,
		`peer=c`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "peer=b") || strings.Contains(got, "below the level") {
		t.Errorf("a line that should be dropped was kept:\n%s", got)
	}
}
