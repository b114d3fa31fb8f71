package cli

import (
	"fmt"
	"strings"
	"testing"
)

func TestCLITopicLifecycle(t *testing.T) {
	b := startBroker(t)

	out := b.ok("", "topic", "create", "orders", "events", "-p", "3", "-c", "retention.ms=3600000")
	got := lines(out)
	if len(got) != 3 || !strings.HasPrefix(got[0], "TOPIC") || !strings.HasPrefix(got[1], "orders") ||
		!strings.HasSuffix(got[1], "3           1         created") || !strings.HasSuffix(got[2], "created") {
		t.Fatalf("create output:\n%s", out)
	}
	r := b.fails("TOPIC_ALREADY_EXISTS", "", "topic", "create", "orders")
	if !strings.Contains(r.stdout, "orders  -   -           -         TOPIC_ALREADY_EXISTS") {
		t.Fatalf("create of an existing topic: stdout\n%s", r.stdout)
	}
	if out := b.ok("", "topic", "create", "dry", "--dry-run", "-p", "2"); !strings.Contains(out, "dry    -   2           1         OK (dry run)\n") {
		t.Fatalf("create --dry-run:\n%s", out)
	}
	var created []topicResult
	b.okJSON(&created, "", "topic", "create", "single", "--partitions", "1", "--replication-factor", "1")
	if len(created) != 1 || created[0].Topic != "single" || created[0].Partitions != 1 || created[0].ReplicationFactor != 1 ||
		created[0].ID == "" || created[0].Error != "" {
		t.Fatalf("create --format json: %+v", created)
	}

	if out := b.ok("", "topic", "list"); out != "NAME    PARTITIONS  REPLICAS\n"+
		"events  3           1\n"+
		"orders  3           1\n"+
		"single  1           1\n" {
		t.Fatalf("topic list:\n%s", out)
	}
	var listed []topicListEntry
	b.okJSON(&listed, "", "topic", "list")
	if len(listed) != 3 || listed[1].Name != "orders" || listed[1].Partitions != 3 || listed[1].ReplicationFactor != 1 ||
		listed[1].Internal || listed[1].ID == "" {
		t.Fatalf("topic list --format json: %+v", listed)
	}

	// Describe: partitions, offsets, configs.
	b.ok("a\nb\nc\n", "produce", "orders", "-p", "1")
	var descs []topicDescription
	b.okJSON(&descs, "", "topic", "describe", "orders")
	if len(descs) != 1 || descs[0].Name != "orders" || len(descs[0].Partitions) != 3 || descs[0].ReplicationFactor != 1 {
		t.Fatalf("describe: %+v", descs)
	}
	for _, p := range descs[0].Partitions {
		hw := int64(0)
		if p.Partition == 1 {
			hw = 3
		}
		if p.Leader != 1 || fmt.Sprint(p.Replicas) != "[1]" || fmt.Sprint(p.ISR) != "[1]" || len(p.OfflineReplicas) != 0 ||
			p.LogStartOffset != 0 || p.HighWatermark != hw || p.Error != "" {
			t.Errorf("partition %d: %+v, want leader 1, replicas and ISR [1], offsets 0..%d", p.Partition, p, hw)
		}
	}
	if c := findConfig(descs[0].Configs, "retention.ms"); c == nil || *c.Value != "3600000" || c.Source != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("retention.ms: %+v", c)
	}
	if c := findConfig(descs[0].Configs, "cleanup.policy"); c == nil || *c.Value != "delete" || c.Source != "DEFAULT_CONFIG" {
		t.Fatalf("cleanup.policy: %+v", c)
	}
	text := b.ok("", "topic", "describe", "orders")
	for _, want := range []string{"SUMMARY\n=======\nNAME        orders\n", "PARTITIONS  3\nREPLICAS    1\n",
		"retention.ms ", "DYNAMIC_TOPIC_CONFIG",
		"PARTITION  LEADER  EPOCH  REPLICAS  ISR  OFFLINE  LOG-START  HIGH-WATERMARK  ERROR\n",
		"\n1          1       0      1         1    -        0          3               -\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("describe text lacks %q:\n%s", want, text)
		}
	}

	// Configs change live.
	out = b.ok("", "topic", "alter-config", "orders", "--set", "retention.ms=7200000", "--delete", "cleanup.policy", "--set", "segment.ms=60000")
	if !strings.Contains(out, "orders  retention.ms    set     7200000  OK\n") || !strings.Contains(out, "orders  cleanup.policy  delete  -        OK\n") {
		t.Fatalf("alter-config output:\n%s", out)
	}
	var cr configResource
	b.okJSON(&cr, "", "config", "get", "topic", "orders", "retention.ms", "segment.ms")
	if len(cr.Configs) != 2 || *cr.Configs[0].Value != "7200000" || *cr.Configs[1].Value != "60000" || cr.Configs[1].Source != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("configs after alter: %+v", cr)
	}
	b.fails("INVALID_CONFIG", "", "topic", "alter-config", "orders", "--set", "retention.ms=soon")
	b.fails("one operation per key", "", "topic", "alter-config", "orders", "--set", "a=1", "--delete", "a")
	b.fails("nothing to change", "", "topic", "alter-config", "orders")

	// Partitions are added.
	out = b.ok("", "topic", "add-partitions", "orders", "--num", "2")
	if out != "TOPIC   STATUS\norders  OK\n" {
		t.Fatalf("add-partitions:\n%s", out)
	}
	b.okJSON(&descs, "", "topic", "describe", "orders")
	if len(descs[0].Partitions) != 5 {
		t.Fatalf("partitions after add-partitions: %d, want 5", len(descs[0].Partitions))
	}
	b.fails("--num 0: want > 0", "", "topic", "add-partitions", "orders", "--num", "0")

	// Delete: gone from the list; describing it is UNKNOWN_TOPIC_OR_PARTITION.
	out = b.ok("", "topic", "delete", "events", "single")
	if out != "TOPIC   STATUS\nevents  OK\nsingle  OK\n" {
		t.Fatalf("delete:\n%s", out)
	}
	b.okJSON(&listed, "", "topic", "list")
	if len(listed) != 1 || listed[0].Name != "orders" {
		t.Fatalf("list after delete: %+v", listed)
	}
	r = b.fails("UNKNOWN_TOPIC_OR_PARTITION", "", "topic", "describe", "events")
	if !strings.Contains(r.stdout, "ERROR  UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("describe of a deleted topic:\n%s", r.stdout)
	}
	r = b.fails("1 of 2 topics failed", "", "topic", "delete", "orders", "events", "--format", "json")
	var deleted []topicResult
	if err := jsonUnmarshal(r.stdout, &deleted); err != nil || len(deleted) != 2 || deleted[0].Error != "" ||
		!strings.HasPrefix(deleted[1].Error, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("delete --format json: %v %+v", err, deleted)
	}

	// Internal topics are listed on request only.
	b.ok("x\n", "produce", "again")
	b.ok("", "consume", "again", "-g", "g", "-n", "1")
	b.okJSON(&listed, "", "topic", "list", "--internal")
	if len(listed) != 2 || listed[0].Name != "__consumer_offsets" || !listed[0].Internal {
		t.Fatalf("list --internal: %+v", listed)
	}
}

func TestCLITopicTrim(t *testing.T) {
	b := startBroker(t)
	b.ok("", "topic", "create", "t", "-p", "2")
	b.ok("0\n1\n2\n3\n4\n", "produce", "t", "-p", "0")
	b.ok("0\n1\n2\n", "produce", "t", "-p", "1")

	out := b.ok("", "topic", "trim", "t", "-p", "0", "-o", "2")
	if out != "TOPIC  PARTITION  OFFSET  LOG-START  ERROR\nt      0          2       2          -\n" {
		t.Fatalf("trim:\n%s", out)
	}
	if out := b.ok("", "consume", "t", "-p", "0", "-n", "3"); out != "2\n3\n4\n" {
		t.Fatalf("records after trim: %q", out)
	}
	var res []trimResult
	b.okJSON(&res, "", "topic", "trim", "t", "-p", "0,1", "-o", "end")
	if len(res) != 2 || res[0].LowWatermark != 5 || res[1].LowWatermark != 3 || res[1].Offset != 3 {
		t.Fatalf("trim to end: %+v", res)
	}
	r := b.fails("OFFSET_OUT_OF_RANGE", "", "topic", "trim", "t", "-p", "1", "-o", "99")
	if !strings.Contains(r.stdout, "t      1          99      -1         OFFSET_OUT_OF_RANGE") {
		t.Fatalf("trim past the end:\n%s", r.stdout)
	}
	b.fails(`required flag(s) "partition" not set`, "", "topic", "trim", "t", "-o", "1")
	b.fails("offset \"x\": want", "", "topic", "trim", "t", "-p", "0", "-o", "x")
}

func findConfig(cs []configEntry, name string) *configEntry {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}
