package cluster

// The nemesis: the faults a campaign injects into a running cluster, each
// applied and then undone. A fault never needs more than the one node (or
// link set) it names, so with RF=3 and min.insync.replicas=2 the cluster
// stays writable except while leadership moves.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gregor-dev/gregor/internal/storage"
)

// journal is the node's sync journal (withSyncJournal), beside its data.
func (n *node) journal() string { return n.DataDir + ".sync-journal" }

// Pause sends SIGSTOP to node id (its process freezes: connections stay
// open, nothing answers).
func (c *cluster) Pause(id int32) {
	c.t.Helper()
	n := c.node(id)
	c.logf("SIGSTOP %v", n)
	if p := n.current(); p != nil && p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume sends SIGCONT to node id.
func (c *cluster) Resume(id int32) {
	c.t.Helper()
	n := c.node(id)
	c.logf("SIGCONT %v", n)
	if p := n.current(); p != nil && p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Partition cuts every link between the two groups of nodes (in both
// directions, Kafka and controller traffic); clients still reach every
// node. Unpartition undoes it.
func (c *cluster) Partition(a, b []int32) {
	c.t.Helper()
	c.logf("partition %v | %v", a, b)
	c.linkBlock(a, b, true)
}

func (c *cluster) Unpartition(a, b []int32) {
	c.t.Helper()
	c.logf("heal partition %v | %v", a, b)
	c.linkBlock(a, b, false)
}

func (c *cluster) linkBlock(a, b []int32, block bool) {
	for _, x := range a {
		for _, y := range b {
			for _, pair := range [][2]*node{{c.node(x), c.node(y)}, {c.node(y), c.node(x)}} {
				to, from := pair[0], pair[1]
				if block {
					to.kafkaProxy.Block(from.sourceName())
					to.ctrlProxy.Block(from.sourceName())
				} else {
					to.kafkaProxy.Unblock(from.sourceName())
					to.ctrlProxy.Unblock(from.sourceName())
				}
			}
		}
	}
}

// SlowLinks adds latency d to everything to and from node id (0: none).
func (c *cluster) SlowLinks(id int32, d time.Duration) {
	c.t.Helper()
	n := c.node(id)
	c.logf("latency %v on %v", d, n)
	n.kafkaProxy.SetLatency(d)
	n.ctrlProxy.SetLatency(d)
}

// PowerLoss kills node id and cuts its data back to what it had fsynced
// (the cluster must run withSyncJournal); with rng, part of the unsynced
// tail survives, possibly with a flipped byte. The metadata quorum's files
// (fsynced by their own library) are left alone.
func (c *cluster) PowerLoss(id int32, rng *rand.Rand) {
	c.t.Helper()
	n := c.node(id)
	c.Kill(id)
	pl, err := storage.ApplyPowerLoss(n.journal(), n.DataDir, []string{"__cluster_metadata-0", ".lock"}, rng)
	if err != nil {
		c.t.Fatalf("power loss of %v: %v", n, err)
	}
	c.logf("power loss of %v: %d files cut back, %d unsynced bytes lost", n, pl.Files, pl.BytesLost)
}

// DamageTail kills node id and damages the end of one partition's active
// segment: cut (a torn write) or a flipped byte in its last 4 KiB.
func (c *cluster) DamageTail(id int32, rng *rand.Rand) {
	c.t.Helper()
	n := c.node(id)
	c.Kill(id)
	var logs []string
	dirs, _ := os.ReadDir(n.DataDir)
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), "__cluster_metadata") {
			continue
		}
		segs, _ := filepath.Glob(filepath.Join(n.DataDir, d.Name(), "*.log"))
		if len(segs) > 0 {
			slices.Sort(segs)
			logs = append(logs, segs[len(segs)-1]) // the active segment
		}
	}
	if len(logs) == 0 {
		return
	}
	slices.Sort(logs)
	path := logs[rng.IntN(len(logs))]
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		return
	}
	if rng.IntN(2) == 0 {
		cut := 1 + rng.Int64N(min(fi.Size(), 4096))
		c.logf("damage: %s cut by %d bytes", path, cut)
		if err := os.Truncate(path, fi.Size()-cut); err != nil {
			c.t.Fatal(err)
		}
		return
	}
	at := fi.Size() - 1 - rng.Int64N(min(fi.Size(), 4096))
	c.logf("damage: %s byte %d flipped", path, at)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, at)
	b[0] ^= 0xff
	f.WriteAt(b, at)
}

// fault is one nemesis action: apply, hold, undo.
type fault struct {
	name  string
	apply func()
	undo  func()
}

// pickFault draws a fault on a random node (or link) from rng.
func (c *cluster) pickFault(rng *rand.Rand) fault {
	ids := c.ids()
	id := ids[rng.IntN(len(ids))]
	others := c.others(id)
	switch k := rng.IntN(8); k {
	case 0:
		return fault{fmt.Sprintf("kill %d", id), func() { c.Kill(id) }, func() { c.Restart(id) }}
	case 1:
		return fault{fmt.Sprintf("pause %d", id), func() { c.Pause(id) }, func() { c.Resume(id) }}
	case 2:
		return fault{fmt.Sprintf("isolate %d", id), func() { c.Isolate(id) }, func() { c.Heal(id) }}
	case 3: // the node in the middle is a bridge: the two others cannot talk
		a, b := []int32{others[0]}, []int32{others[1]}
		return fault{fmt.Sprintf("bridge %d (cut %d|%d)", id, a[0], b[0]), func() { c.Partition(a, b) }, func() { c.Unpartition(a, b) }}
	case 4: // a minority of one against the majority, brokers only
		return fault{fmt.Sprintf("partition %d | %v", id, others), func() { c.Partition([]int32{id}, others) }, func() { c.Unpartition([]int32{id}, others) }}
	case 5:
		d := time.Duration(20+rng.IntN(180)) * time.Millisecond
		return fault{fmt.Sprintf("slow %d by %v", id, d), func() { c.SlowLinks(id, d) }, func() { c.SlowLinks(id, 0) }}
	case 6:
		seed := rng.Uint64()
		return fault{fmt.Sprintf("damaged tail of %d", id), func() { c.DamageTail(id, rand.New(rand.NewPCG(seed, 1))) }, func() { c.Restart(id) }}
	default:
		seed := rng.Uint64()
		return fault{fmt.Sprintf("power loss of %d", id), func() {
			var r *rand.Rand
			if seed%2 == 0 {
				r = rand.New(rand.NewPCG(seed, 2))
			}
			c.PowerLoss(id, r)
		}, func() { c.Restart(id) }}
	}
}
