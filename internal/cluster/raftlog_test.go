package cluster

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestClusterRaftLogRepeatsDropped(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	q := newQuietWriter(&out, 10*time.Second, func() time.Time { return now })
	line := func(ts, msg string) { q.Write([]byte(ts + " [ERROR] raft: " + msg + "\n")) }
	line("t1", "failed to heartbeat to: peer=a backoff time=500ms")
	now = now.Add(time.Second)
	line("t2", "failed to heartbeat to: peer=b backoff time=1s") // same message, other values: dropped
	line("t3", "entering follower state: follower=x")            // another message: kept
	now = now.Add(10 * time.Second)
	line("t4", "failed to heartbeat to: peer=a backoff time=2s") // after the quiet period: kept
	got := out.String()
	for _, want := range []string{"t1 ", "t3 ", "t4 "} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q dropped:\n%s", want, got)
		}
	}
	if strings.Contains(got, "t2 ") {
		t.Errorf("repeated line kept:\n%s", got)
	}
}
