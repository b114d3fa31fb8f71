package cluster

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// metaClusterID reads cluster.id from a node's meta.properties.
func metaClusterID(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "meta.properties"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "cluster.id="); ok {
			return v
		}
	}
	return ""
}

// TestClusterDataDirBelongsToItsQuorum: every node of a cluster records the
// one cluster id the metadata log names (Metadata answers it too), and a
// cluster node's data directory started without --voters is refused with
// a message saying what to do. Before, each node kept its own id, and the
// directory came up as an empty single broker whose auto-created topic of
// the same name appended to the old log file.
func TestClusterDataDirBelongsToItsQuorum(t *testing.T) {
	c := startCluster(t, 3)
	adm := c.admin()
	const topic = "owned"
	c.createTopic(adm, topic, 1, 3, nil)
	m, err := c.metadata(adm)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids() {
		if got := metaClusterID(t, c.node(id).DataDir); got != m.Cluster || got == "" {
			t.Errorf("node %d: meta.properties cluster.id %q, Metadata %q", id, got, m.Cluster)
		}
	}
	const alone = 3
	c.Stop(alone)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "serve", "--node-id", "3", "--data-dir", c.node(alone).DataDir, "--listen", "127.0.0.1:0")
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &ee) {
		t.Fatalf("a cluster node's directory started alone kept running (or did not fail): %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--voters") || strings.Contains(string(out), "broker ready") {
		t.Fatalf("refusal does not say what to do:\n%s", out)
	}
	c.Restart(alone)
	c.waitISRContains(adm, 30*time.Second, topic, alone)
}
