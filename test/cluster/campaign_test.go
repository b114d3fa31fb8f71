package cluster

// The fault campaign: a seeded schedule of nemesis faults (nemesis_test.go)
// against a 3-node cluster (RF=3, min.insync.replicas=2, unclean election
// off) under an idempotent acks=all workload, then a check that nothing
// acknowledged was lost, duplicated or reordered. The short campaign runs
// in every `go test`; the long one is
//
//	go test ./test/cluster -run TestClusterFaultCampaign -timeout 30m \
//	    -campaign.duration 10m -campaign.faults 50 [-campaign.seed N]
//
// (scripts/campaign wraps it). A failure prints the seed: the same seed
// replays the same schedule of faults, on the same nodes, with the same
// holds (timing of the workload and of the cluster's reactions differs from
// run to run).

import (
	"context"
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/bench"
	"github.com/gregor-dev/gregor/internal/verify"
)

var (
	campaignDuration = flag.Duration("campaign.duration", 45*time.Second, "fault campaign: how long faults are injected")
	campaignFaults   = flag.Int("campaign.faults", 10, "fault campaign: at least this many faults")
	campaignSeed     = flag.Uint64("campaign.seed", 0, "fault campaign: the schedule's seed (0: a new one, printed)")
)

func TestClusterFaultCampaign(t *testing.T) {
	seed := *campaignSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("campaign seed %d (replay: -campaign.seed %d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED campaign: replay the schedule with -campaign.seed %d -campaign.duration %v -campaign.faults %d", seed, *campaignDuration, *campaignFaults)
		}
	})
	rng := rand.New(rand.NewPCG(seed, 0))
	c := startCluster(t, 3, withSyncJournal(), withSet("min.insync.replicas=2", "unclean.leader.election.enable=false", "default.replication.factor=3"))
	adm := c.admin()
	const topic, parts = "campaign", 3
	c.createTopic(adm, topic, parts, 3, nil)
	// verify's topic exists before the first fault: a dead broker is
	// fenced within a second now, and a topic of RF 3 cannot be created
	// with two brokers live.
	c.createTopic(adm, "campaign-verify", 3, 3, nil)
	p := startProducer(t, c, topic, parts)
	p.waitAllAcks(50, 30*time.Second)
	// Beside it, gregor verify's workload on its own topic: idempotent
	// producers, plain and group consumers with commits, and its checker
	// at the end (lost, duplicated, inconsistent offsets, reordered,
	// aborted reads, commits going backwards).
	type verified struct {
		h   *verify.History
		err error
	}
	vdone := make(chan verified, 1)
	go func() {
		h, err := verify.Run(context.Background(), verify.Config{
			Brokers: c.KafkaAddrs(), Topic: "campaign-verify", Partitions: 3, ReplicationFactor: 3,
			Duration: *campaignDuration, Rate: 300, Producers: 2, Consumers: 1, Group: "campaign-verify", GroupConsumers: 2,
			Acks: bench.AcksAll, Idempotent: true, Timeout: 30 * time.Second, DrainTimeout: 120 * time.Second,
		})
		vdone <- verified{h, err}
	}()

	// One fault at a time: apply, hold 1-4 s, undo, let the cluster settle
	// 1-3 s; as many as fit, and at least campaign.faults.
	start := time.Now()
	var applied []string
	for time.Since(start) < *campaignDuration || len(applied) < *campaignFaults {
		f := c.pickFault(rng)
		hold := time.Duration(1000+rng.IntN(3000)) * time.Millisecond
		settle := time.Duration(1000+rng.IntN(2000)) * time.Millisecond
		c.logf("fault %d: %s for %v", len(applied)+1, f.name, hold)
		f.apply()
		time.Sleep(hold) // the schedule: how long the fault lasts
		f.undo()
		applied = append(applied, f.name)
		time.Sleep(settle)
	}
	c.logf("%d faults in %v; healing and checking", len(applied), time.Since(start).Round(time.Second))
	c.waitBrokers(60*time.Second, c.ids()...)
	c.waitFullISR(adm, 90*time.Second, topic)
	// Writes go on once healed.
	p.waitAcks(0, 20, 60*time.Second)
	p.stop()
	p.verify()
	select {
	case v := <-vdone:
		if v.err != nil {
			t.Errorf("gregor verify: %v", v.err)
			break
		}
		rep := verify.Check(v.h)
		var found []string
		for _, a := range rep.Anomalies {
			if a.Count > 0 {
				found = append(found, a.Kind+": "+strings.Join(a.Examples, "; "))
			}
		}
		c.logf("gregor verify: %d sent, %d acknowledged, %d indeterminate, %d read; ok %v", rep.Sent, rep.Acknowledged, rep.Indeterminate, rep.Reads, rep.OK)
		if !rep.OK {
			t.Errorf("gregor verify found anomalies:\n%s", strings.Join(found, "\n"))
		}
	case <-time.After(5 * time.Minute):
		t.Error("gregor verify did not finish within 5m of the campaign")
	}
	if t.Failed() {
		t.Logf("faults: %v", applied)
	}
}
