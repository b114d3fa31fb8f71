package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/gregor-dev/gregor/internal/testutil"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/storage"
	"github.com/gregor-dev/gregor/internal/storagetest"
)

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer = testutil.SyncBuffer

// startOn runs a node on dir with fs (nil: the OS) until ready, logging to
// logs; it is stopped at the end of the test (an earlier Stop is fine).
func startOn(t *testing.T, dir string, fs storage.FS, logs *lockedBuffer) *Node {
	t.Helper()
	n, err := Start(Options{Config: testConfig(t, dir), FS: fs, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func kafkaClient(t *testing.T, n *Node, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.Addr())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// storeRecords creates topic (one partition) and produces the records "0"
// to count-1 to it; it returns the topic's id.
func storeRecords(t *testing.T, n *Node, topic string, count int) [16]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created, err := kadm.NewClient(kafkaClient(t, n)).CreateTopic(ctx, 1, 1, nil, topic)
	if err != nil {
		t.Fatal(err)
	}
	cl := kafkaClient(t, n, kgo.DefaultProduceTopic(topic))
	defer cl.Close()
	for i := range count {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return created.ID
}

// checkStored consumes topic and fails the test unless it starts with the
// records storeRecords produced.
func checkStored(t *testing.T, n *Node, topic string, count int) {
	t.Helper()
	got := consumeAll(t, n, topic, count)
	for i, v := range got[:count] {
		if v != fmt.Sprint(i) {
			t.Fatalf("record %d of %s is %q, want %d (all: %q)", i, topic, v, i, got)
		}
	}
}

// consumeAll reads topic from its start until want records arrived.
func consumeAll(t *testing.T, n *Node, topic string, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := kafkaClient(t, n, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("consume %s after %d of %d records: %v", topic, len(got), want, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// TestNodeReadOnlyDiskTakesPartitionOffline: a partition whose segment
// file turns read-only (EROFS, injected: the tests may run as root, where
// a chmod stops no write) fails its log as Kafka takes a failed log
// directory's partitions offline: the broker logs an error naming the
// partition's directory, producers get KAFKA_STORAGE_ERROR, every later
// write too (the failure is sticky), nothing crashes or hangs, and after a
// restart on a healthy disk every record acknowledged before is there.
func TestNodeReadOnlyDiskTakesPartitionOffline(t *testing.T) {
	dir := t.TempDir()
	ffs := storagetest.NewFaultFS(storage.OS)
	var logs lockedBuffer
	n := startOn(t, dir, ffs, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const stored = 20
	id := storeRecords(t, n, "ro", stored)

	ffs.InjectError(storagetest.OpWrite, "*.log", 1, syscall.EROFS)
	cl := kafkaClient(t, n)
	for i := range 3 {
		if err := produceRaw(ctx, cl, "ro", id); !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce %d on a read-only segment: %v, want KAFKA_STORAGE_ERROR", i, err)
		}
	}
	partDir := filepath.Join(dir, "ro-0")
	logged := loggedError(&logs, partDir, "read-only file system")
	if logged == "" {
		t.Fatalf("no error logged naming %s and the read-only file system; logs:\n%s", partDir, logs.String())
	}
	t.Logf("logged: %s", logged)

	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop() }()
	select {
	case err := <-stopped:
		t.Logf("stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the broker did not stop within 30 s with a failed log")
	}

	var logs2 lockedBuffer
	n2 := startOn(t, dir, nil, &logs2)
	checkStored(t, n2, "ro", stored)
	cl2 := kafkaClient(t, n2, kgo.DefaultProduceTopic("ro"))
	if err := cl2.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatalf("produce after a restart on a healthy disk: %v", err)
	}
	t.Logf("peak RSS (VmHWM): %s", vmHWM())
}

// vmHWM is this process's peak resident set, as /proc/self/status says.
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return "unknown"
}

// TestNodeUnopenableSegmentTakesPartitionOffline restarts a broker whose
// partition's segment cannot be opened (EACCES injected once, as a
// read-only file would give a user other than root): the partition is
// offline until the next restart, as a failed log directory's partitions
// in Kafka: an error logged once naming the file, KAFKA_STORAGE_ERROR to
// producers (not NOT_LEADER_FOR_PARTITION, which clients would retry
// against the same broker for ever), the rest of the broker serving, and
// every stored record there after a restart on a healthy disk.
func TestNodeUnopenableSegmentTakesPartitionOffline(t *testing.T) {
	dir := t.TempDir()
	var logs lockedBuffer
	n := startOn(t, dir, nil, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const stored = 20
	id := storeRecords(t, n, "ro", stored)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	ffs := storagetest.NewFaultFS(storage.OS)
	segment := filepath.Join(dir, "ro-0", "00000000000000000000.log")
	ffs.InjectError(storagetest.OpOpen, "00000000000000000000.log", 1, syscall.EACCES) // ro-0's: the only partition
	var logs2 lockedBuffer
	n2 := startOn(t, dir, ffs, &logs2)
	cl2 := kafkaClient(t, n2)
	for i := range 3 {
		if err := produceRaw(ctx, cl2, "ro", id); !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce %d to a partition whose segment cannot be opened: %v, want KAFKA_STORAGE_ERROR", i, err)
		}
	}
	if _, err := kadm.NewClient(cl2).CreateTopic(ctx, 1, 1, nil, "healthy"); err != nil {
		t.Fatal(err)
	}
	if err := kafkaClient(t, n2, kgo.DefaultProduceTopic("healthy")).ProduceSync(ctx, kgo.StringRecord("ok")).FirstErr(); err != nil {
		t.Fatalf("produce to a healthy partition next to an offline one: %v", err)
	}
	var opens int
	for _, line := range strings.Split(logs2.String(), "\n") {
		if strings.Contains(line, "applying a topic") && strings.Contains(line, segment) {
			opens++
		}
	}
	if opens != 1 {
		t.Fatalf("the failed open of %s logged %d times, want once (offline until a restart, not retried at each metadata change); logs:\n%s", segment, opens, logs2.String())
	}
	t.Logf("logged: %s", loggedError(&logs2, segment, "offline until a restart"))
	if err := n2.Stop(); err != nil {
		t.Fatal(err)
	}

	n3 := startOn(t, dir, nil, &logs)
	checkStored(t, n3, "ro", stored)
	t.Logf("peak RSS (VmHWM): %s", vmHWM())
}

// produceRaw sends one batch at acks=all and returns the partition's
// error: franz-go's producer retries KAFKA_STORAGE_ERROR until its delivery
// timeout, which would hide it.
func produceRaw(ctx context.Context, cl *kgo.Client, topic string, id [16]byte) error {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = recordtest.Simple(1, time.Now().UnixMilli()).Encode()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// loggedError is the last line logged at ERROR that contains all of subs.
func loggedError(logs *lockedBuffer, subs ...string) string {
	var found string
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, "level=ERROR") {
			continue
		}
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			found = line
		}
	}
	return found
}

// TestNodeReadOnlyDataDirAtStart starts a broker on a data directory made
// read-only with chmod after records were stored. It needs a user other
// than root (root writes through the permission bits); as root it skips,
// and TestNodeReadOnlyDiskTakesPartitionOffline covers a read-only disk
// with injected errors. Never a crash or a hang, and the stored records
// intact for a start once the directory is writable again; in between, a
// read-only directory makes the broker refuse to start with an error naming
// the path (it cannot lock it), and read-only segment files of a partition
// take that partition's writes offline: KAFKA_STORAGE_ERROR to producers,
// and an error logged naming the file.
func TestNodeReadOnlyDataDirAtStart(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, whom chmod does not stop from writing; TestNodeReadOnlyDiskTakesPartitionOffline injects EROFS instead")
	}
	t.Run("whole directory", func(t *testing.T) { readOnlyAtStart(t, false) })
	t.Run("segment files", func(t *testing.T) { readOnlyAtStart(t, true) })
}

// readOnlyAtStart stores records, makes the data directory (or only the
// partition's segment and index files) read-only and starts again.
func readOnlyAtStart(t *testing.T, segmentsOnly bool) {
	dir := t.TempDir()
	var logs lockedBuffer
	n := startOn(t, dir, nil, &logs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const stored = 20
	storeRecords(t, n, "ro", stored)
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}

	if segmentsOnly {
		segs, _ := filepath.Glob(filepath.Join(dir, "ro-0", "*"))
		for _, p := range segs {
			if err := os.Chmod(p, 0o444); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		setMode(t, dir, 0o444, 0o555)
	}
	t.Cleanup(func() { setMode(t, dir, 0o644, 0o755) })

	if segmentsOnly {
		n2 := startOn(t, dir, nil, &logs)
		cl2 := kafkaClient(t, n2)
		img := n2.Cluster().Image()
		if err := produceRaw(ctx, cl2, "ro", img.Topics["ro"].ID); !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce to read-only segment files: %v, want KAFKA_STORAGE_ERROR; logs:\n%s", err, logs.String())
		}
		if line := loggedError(&logs, filepath.Join(dir, "ro-0", "00000000000000000000.log"), "offline"); line == "" {
			t.Fatalf("no error logged naming %s; logs:\n%s", filepath.Join(dir, "ro-0"), logs.String())
		} else {
			t.Logf("logged: %s", line)
		}
		if err := n2.Stop(); err != nil {
			t.Logf("stop: %v", err)
		}
	} else {
		done := make(chan error, 1)
		go func() {
			n2, err := Start(Options{Config: testConfig(t, dir), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err == nil {
				n2.Stop()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("the broker started on a read-only data directory")
			}
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("the start-up error does not name the data directory %s: %v", dir, err)
			}
			t.Logf("refused to start: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the broker hung starting on a read-only data directory")
		}
	}

	setMode(t, dir, 0o644, 0o755)
	n3 := startOn(t, dir, nil, &logs)
	checkStored(t, n3, "ro", stored)
}

// setMode chmods every file under dir to file and every directory to dirMode.
func setMode(t *testing.T, dir string, file, dirMode os.FileMode) {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return os.Chmod(p, dirMode|0o100) // still walkable
		}
		return os.Chmod(p, file)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.Chmod(d, dirMode); err != nil {
			t.Fatal(err)
		}
	}
}
