package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestE2EProcessRestart stops the broker with SIGTERM and restarts it on the
// same data directory and port: records, offsets, topic IDs, dynamic topic
// configs, log start offsets and deletions survive, and producing goes on
// at the next offsets.
func TestE2EProcessRestart(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, b.Addr)

	topic := topicName(t, "main")
	trimmed := topicName(t, "trimmed")
	deleted := topicName(t, "deleted")
	createTopic(t, ctx, adm, topic, 3, map[string]*string{
		"retention.ms":      kadm.StringPtr("3600000"),
		"max.message.bytes": kadm.StringPtr("500000"),
	})
	createTopic(t, ctx, adm, trimmed, 1, nil)
	createTopic(t, ctx, adm, deleted, 1, nil)
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("7200000")}}, topic)
	if e := alterErr(t, "IncrementalAlterConfigs", rs, err, topic); e != nil {
		t.Fatalf("IncrementalAlterConfigs: %v", e)
	}

	recs := workload("before", 300)
	produceKgo(t, ctx, newKgo(t, b.Addr), topic, recs, true)
	trimRecs := workload("trim", 50)
	produceKgo(t, ctx, newKgo(t, b.Addr), trimmed, trimRecs, true)
	var trimAt kadm.Offsets
	trimAt.Add(kadm.Offset{Topic: trimmed, Partition: 0, At: 20})
	if drs, err := adm.DeleteRecords(ctx, trimAt); err != nil || drs[trimmed][0].Err != nil {
		t.Fatalf("DeleteRecords: %v / %+v", err, drs)
	}
	if drs, err := adm.DeleteTopics(ctx, deleted); err != nil || drs[deleted].Err != nil {
		t.Fatalf("DeleteTopics: %v / %+v", err, drs)
	}

	mdBefore, err := adm.Metadata(ctx, topic, trimmed)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	rangesBefore := listRanges(t, ctx, adm, topic)

	b.Stop()
	b = b.restart(t)
	adm = newAdmin(t, b.Addr)

	mdAfter, err := adm.Metadata(ctx, topic, trimmed)
	if err != nil {
		t.Fatalf("Metadata after restart: %v", err)
	}
	if mdAfter.Cluster != mdBefore.Cluster {
		t.Errorf("cluster ID changed across the restart: %q -> %q", mdBefore.Cluster, mdAfter.Cluster)
	}
	for _, name := range []string{topic, trimmed} {
		before, after := mdBefore.Topics[name], mdAfter.Topics[name]
		if after.Err != nil || after.ID != before.ID || len(after.Partitions) != len(before.Partitions) {
			t.Errorf("topic %s after restart: ID %v, %d partitions, err %v; before: ID %v, %d partitions",
				name, after.ID, len(after.Partitions), after.Err, before.ID, len(before.Partitions))
		}
	}
	expectConfig(t, ctx, adm, topic, "retention.ms", "3600000", true)
	expectConfig(t, ctx, adm, topic, "max.message.bytes", "500000", true)
	expectConfig(t, ctx, adm, topic, "segment.ms", "7200000", true)
	if r := listRanges(t, ctx, adm, trimmed)[0]; r.start != 20 || r.end != 50 {
		t.Errorf("%s after restart: offsets [%d, %d), want [20, 50) (DeleteRecords must survive)", trimmed, r.start, r.end)
	}
	md, err := adm.Metadata(ctx, deleted)
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if td, ok := md.Topics[deleted]; ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleted topic %s is back after the restart: %+v", deleted, td)
	}

	rangesAfter := listRanges(t, ctx, adm, topic)
	for p, r := range rangesBefore {
		if rangesAfter[p] != r {
			t.Errorf("partition %d offsets [%d, %d) before the restart, [%d, %d) after", p, r.start, r.end, rangesAfter[p].start, rangesAfter[p].end)
		}
	}
	verifyRoundTrip(t, recs, consumeKgo(t, ctx, b.Addr, topic))

	// New records continue each partition's offsets.
	more := workload("after", 120)
	produceKgo(t, ctx, newKgo(t, b.Addr), topic, more, true)
	next := map[int32]int64{}
	for p, r := range rangesBefore {
		next[p] = r.end
	}
	for _, r := range more {
		if r.Offset != next[r.Partition] {
			t.Errorf("after restart, %s went to p%d@%d, want offset %d", r.Value, r.Partition, r.Offset, next[r.Partition])
			break
		}
		next[r.Partition]++
	}
	verifyRoundTrip(t, append(append([]sentRecord{}, recs...), more...), consumeKgo(t, ctx, b.Addr, topic))
	b.Stop()
}

// TestE2EProcessKillDuringProduce kills the broker with SIGKILL while a
// producer writes continuously, restarts it, and checks that every
// acknowledged record is there exactly once, at the offset it was
// acknowledged with, in order. Several kill/restart cycles run on the same
// data directory.
func TestE2EProcessKillDuringProduce(t *testing.T) {
	t.Parallel()
	acks1 := []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	variants := []struct {
		name     string
		sets     []string
		producer []kgo.Opt
	}{
		{name: "acks1", producer: acks1},
		{name: "acks1-flush-every-message", sets: []string{"log.flush.interval.messages=1"}, producer: acks1},
		{name: "acks1-small-segments", sets: []string{"log.segment.bytes=1048576"}, producer: acks1},
		{name: "idempotent", producer: nil},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			killCycles(t, v.sets, v.producer, 3)
		})
	}
}

// killedRecord is a record whose produce was acknowledged before a kill.
type killedRecord struct {
	partition int32
	offset    int64
}

func killCycles(t *testing.T, sets []string, producerOpts []kgo.Opt, cycles int) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("random seed %d", seed)

	b := startBroker(t, withSet(sets...))
	ctx := testContext(t, 3*time.Minute)
	topic := topicName(t, "")
	createTopic(t, ctx, newAdmin(t, b.Addr), topic, 2, nil)

	acked := map[string]killedRecord{} // value -> where it was acknowledged
	produced := 0                      // values "kill-<i>" for i < produced were handed to a producer
	padding := strings.Repeat("p", 300)
	for cycle := 0; cycle < cycles; cycle++ {
		// Produce until a random number of acknowledgements, then kill.
		target := len(acked) + 100 + rng.IntN(900)
		var (
			mu      sync.Mutex
			nAcked  = len(acked)
			inAcked = make(map[string]killedRecord)
			wg      sync.WaitGroup
		)
		prod := newKgo(t, b.Addr, append([]kgo.Opt{kgo.ProducerLinger(0), kgo.MaxBufferedRecords(256)}, producerOpts...)...)
		stop := make(chan struct{})
		loopDone := make(chan struct{})
		go func() {
			defer close(loopDone)
			for i := 0; i < 1_000_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				value := "kill-" + strconv.Itoa(produced) + "-" + padding
				produced++
				wg.Add(1)
				// Produce blocks while 256 records are buffered.
				prod.Produce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(workloadKey(produced)), Value: []byte(value)},
					func(r *kgo.Record, err error) {
						defer wg.Done()
						if err != nil {
							return
						}
						mu.Lock()
						inAcked[string(r.Value)] = killedRecord{r.Partition, r.Offset}
						nAcked++
						mu.Unlock()
					})
			}
		}()
		// Poll finely (not with checkFor's backoff) so that the kill
		// lands close to the random target.
		ackedCount := func() int {
			mu.Lock()
			defer mu.Unlock()
			return nAcked
		}
		for deadline := time.Now().Add(30 * time.Second); ackedCount() < target; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: %d records acknowledged after 30s, waiting for %d", cycle, ackedCount(), target)
			}
		}
		b.Kill()
		close(stop)
		// Closing the producer fails whatever it still holds; it must
		// not resend to the restarted broker.
		prod.Close()
		<-loopDone
		promisesDone := make(chan struct{})
		go func() { wg.Wait(); close(promisesDone) }()
		select {
		case <-promisesDone:
		case <-time.After(20 * time.Second):
			t.Fatalf("cycle %d: producer promises not all called 20s after Close", cycle)
		}
		for v, k := range inAcked {
			acked[v] = k
		}
		t.Logf("cycle %d: %d records produced so far, %d acknowledged", cycle, produced, len(acked))

		b = b.restart(t, withSet(sets...))
		got := consumeKgo(t, ctx, b.Addr, topic)
		verifyAfterKill(t, cycle, acked, got)
		if t.Failed() {
			return
		}
	}
	b.Stop()
}

// verifyAfterKill checks the log after a kill and restart: each value at
// most once, each partition in produce order, and every acknowledged
// record present at its acknowledged partition and offset.
func verifyAfterKill(t *testing.T, cycle int, acked map[string]killedRecord, got []gotRecord) {
	t.Helper()
	var errs errorList
	seen := map[string]gotRecord{}
	lastSeq := map[int32]int{}
	for _, g := range got {
		if prev, dup := seen[g.Value]; dup {
			errs.add("value %.20q at p%d@%d and p%d@%d", g.Value, prev.Partition, prev.Offset, g.Partition, g.Offset)
			continue
		}
		seen[g.Value] = g
		seqStr, _, _ := strings.Cut(strings.TrimPrefix(g.Value, "kill-"), "-")
		seq, err := strconv.Atoi(seqStr)
		if err != nil || !strings.HasPrefix(g.Value, "kill-") {
			errs.add("unexpected record p%d@%d value %.40q", g.Partition, g.Offset, g.Value)
			continue
		}
		if last, ok := lastSeq[g.Partition]; ok && seq <= last {
			errs.add("partition %d out of order: record %d at offset %d after record %d", g.Partition, seq, g.Offset, last)
		}
		lastSeq[g.Partition] = seq
	}
	lost := 0
	for v, k := range acked {
		g, ok := seen[v]
		switch {
		case !ok:
			lost++
			if lost <= 10 {
				errs.add("acknowledged record %.20q (p%d@%d) is gone", v, k.partition, k.offset)
			}
		case g.Partition != k.partition || g.Offset != k.offset:
			errs.add("acknowledged record %.20q at p%d@%d, was acknowledged at p%d@%d", v, g.Partition, g.Offset, k.partition, k.offset)
		}
	}
	if lost > 10 {
		errs.add("... %d of %d acknowledged records lost in all", lost, len(acked))
	}
	errs.report(t, fmt.Sprintf("after kill %d", cycle))
	t.Logf("after kill %d: %d records in the log, %d acknowledged", cycle, len(got), len(acked))
}

// TestE2EProcessSignalRightAfterReady stops brokers the moment they print
// their ready line: by then SIGTERM and SIGINT must already mean a clean
// shutdown (exit 0), not the default action of dying by the signal.
func TestE2EProcessSignalRightAfterReady(t *testing.T) {
	t.Parallel()
	for i := 0; i < 8; i++ {
		b := startBroker(t)
		if i%2 == 0 {
			b.Stop()
		} else {
			b.Interrupt()
		}
	}
}
