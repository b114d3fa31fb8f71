package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ombFull sets every field of an OMB workload.
const ombFull = `
# a comment
name: full
topics: 2
partitionsPerTopic: 3
keyDistributor: "KEY_ROUND_ROBIN"
messageSize: 1024
useRandomizedPayloads: true
randomBytesRatio: 0.5
randomizedPayloadPoolSize: 1000
payloadFile: "payload/payload-1Kb.data"
subscriptionsPerTopic: 2
producersPerTopic: 4
consumerPerSubscription: 5
producerRate: 200000
consumerBacklogSizeGB: 0.5
backlogDrainRatio: 0.9
testDurationMinutes: 15
warmupDurationMinutes: 2
`

func TestBenchOMBParse(t *testing.T) {
	w, err := ParseOMBWorkload([]byte(ombFull))
	if err != nil {
		t.Fatal(err)
	}
	want := OMBWorkload{Name: "full", Topics: 2, PartitionsPerTopic: 3, KeyDistributor: KeyRoundRobin, MessageSize: 1024,
		UseRandomizedPayloads: true, RandomBytesRatio: 0.5, RandomizedPayloadPoolSize: 1000, PayloadFile: "payload/payload-1Kb.data",
		SubscriptionsPerTopic: 2, ProducersPerTopic: 4, ConsumerPerSubscription: 5, ProducerRate: 200000,
		ConsumerBacklogSizeGB: 0.5, BacklogDrainRatio: 0.9, TestDurationMinutes: 15, WarmupDurationMinutes: 2}
	if *w != want {
		t.Fatalf("parsed\n%+v\nwant\n%+v", *w, want)
	}
	if w.Keys() != OMBKeys || w.BacklogRecords() != 1<<29/1024 {
		t.Fatalf("keys %d, backlog records %d", w.Keys(), w.BacklogRecords())
	}

	// Absent fields take OMB's defaults.
	w, err = ParseOMBWorkload([]byte("topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nsubscriptionsPerTopic: 1\n" +
		"producersPerTopic: 1\nconsumerPerSubscription: 1\nproducerRate: 0\ntestDurationMinutes: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w.KeyDistributor != KeyNone || w.Keys() != 0 || w.WarmupDurationMinutes != 1 || w.BacklogDrainRatio != 1 || w.BacklogRecords() != 0 {
		t.Fatalf("defaults: %+v", *w)
	}

	// A file without a name is named after the file.
	path := filepath.Join(t.TempDir(), "my-test.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(ombFull, "name: full\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if w, err := LoadOMBWorkload(path); err != nil || w.Name != "my-test" {
		t.Fatalf("load: %+v, %v", w, err)
	}
}

func TestBenchOMBParseRefusesUnknownFields(t *testing.T) {
	for _, field := range []string{
		"partitionPerTopic", "producerrate", "testDurationMinute", "consumersPerSubscription",
		"warmupDuration", "driver", "Topics",
	} {
		// Each misspelling added to a good file, and in place of its
		// correct field, is refused with its name and line.
		for _, doc := range []string{ombFull + field + ": 1\n", strings.Replace(ombFull, "\ntopics:", "\n"+field+":", 1)} {
			_, err := ParseOMBWorkload([]byte(doc))
			if !errors.Is(err, ErrWorkload) || !strings.Contains(err.Error(), fmt.Sprintf("unknown field %q", field)) ||
				!strings.Contains(err.Error(), "line ") {
				t.Errorf("field %s: error %v, want ErrWorkload naming the field and its line", field, err)
			}
		}
	}
}

func TestBenchOMBParseRefusesBadValues(t *testing.T) {
	set := func(field, value string) string {
		re := regexp.MustCompile(`(?m)^` + field + `:.*$`)
		if !re.MatchString(ombFull) {
			t.Fatalf("no field %s in the test file", field)
		}
		return re.ReplaceAllString(ombFull, field+": "+value)
	}
	for name, doc := range map[string]string{
		"topics 0":                       set("topics", "0"),
		"topics fractional":              set("topics", "1.5"),
		"topics text":                    set("topics", "many"),
		"partitions 0":                   set("partitionsPerTopic", "0"),
		"partitions negative":            set("partitionsPerTopic", "-3"),
		"message below header":           set("messageSize", "15"),
		"key distributor":                set("keyDistributor", "RANDOM"),
		"key distributor lower case":     set("keyDistributor", "no_key"),
		"random bytes ratio":             set("randomBytesRatio", "1.5"),
		"payload pool negative":          set("randomizedPayloadPoolSize", "-1"),
		"subscriptions 0":                set("subscriptionsPerTopic", "0"),
		"producers 0":                    set("producersPerTopic", "0"),
		"consumers 0":                    set("consumerPerSubscription", "0"),
		"rate negative":                  set("producerRate", "-1"),
		"rate text":                      set("producerRate", "fast"),
		"rate infinite":                  set("producerRate", ".inf"),
		"backlog negative":               set("consumerBacklogSizeGB", "-1"),
		"backlog at max rate":            set("producerRate", "0"),
		"drain ratio":                    set("backlogDrainRatio", "1.1"),
		"duration negative":              set("testDurationMinutes", "-1"),
		"warm-up negative":               set("warmupDurationMinutes", "-1"),
		"useRandomizedPayloads not bool": set("useRandomizedPayloads", "maybe"),
		"duplicate field":                ombFull + "topics: 3\n",
		"two documents":                  ombFull + "---\n" + ombFull,
		"a list":                         "- topics: 1\n",
		"empty":                          "",
	} {
		if _, err := ParseOMBWorkload([]byte(doc)); !errors.Is(err, ErrWorkload) {
			t.Errorf("%s: error %v, want ErrWorkload", name, err)
		}
	}
}

func TestBenchOMBPlan(t *testing.T) {
	w, err := ParseOMBWorkload([]byte(ombFull))
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.Plan(OMBOverrides{})
	if err != nil || p.Duration != 15*time.Minute || p.Warmup != 2*time.Minute || p.Workload != *w || len(p.Changes) != 0 {
		t.Fatalf("no overrides: %+v, %v", p, err)
	}
	p, err = w.Plan(OMBOverrides{Duration: time.Minute, WarmupSet: true, RateScale: 0.05, BacklogScale: 0.002})
	if err != nil {
		t.Fatal(err)
	}
	if p.Duration != time.Minute || p.Warmup != 0 || p.Workload.ProducerRate != 10000 || p.Workload.ConsumerBacklogSizeGB != 0.001 {
		t.Fatalf("overrides: %+v", p)
	}
	if got := strings.Join(p.Changes, "; "); got != "duration 1m0s instead of testDurationMinutes 15; "+
		"warm-up 0s instead of warmupDurationMinutes 2; producerRate 10000 msg/s (200000 × 0.05); "+
		"consumerBacklogSizeGB 0.001 (0.5 × 0.002)" {
		t.Fatalf("changes: %s", got)
	}
	if w.ProducerRate != 200000 {
		t.Fatal("Plan changed the workload it was called on")
	}

	// Rate 0 stays 0 and says so; OMB's endless testDurationMinutes 0
	// needs a duration.
	w.ProducerRate, w.ConsumerBacklogSizeGB, w.TestDurationMinutes = 0, 0, 0
	if _, err := w.Plan(OMBOverrides{}); !errors.Is(err, ErrWorkload) {
		t.Fatalf("no duration: %v", err)
	}
	p, err = w.Plan(OMBOverrides{Duration: time.Second, RateScale: 2})
	if err != nil || p.Workload.ProducerRate != 0 || !strings.Contains(strings.Join(p.Changes, ";"), "producerRate 0") {
		t.Fatalf("rate 0 scaled: %+v, %v", p, err)
	}
	if _, err := w.Plan(OMBOverrides{Duration: time.Second, RateScale: -1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("negative scale: %v", err)
	}
}

// TestBenchOMBShippedWorkloads parses every file of bench/workloads and
// checks the 1-topic-100-partitions-1kb-4p-4c family against OMB's
// values, the rate being the one in the file's name.
func TestBenchOMBShippedWorkloads(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "bench", "workloads", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	family := regexp.MustCompile(`^1-topic-100-partitions-1kb-4p-4c-(\d+)k(-backlog)?\.yaml$`)
	members := 0
	for _, f := range files {
		w, err := LoadOMBWorkload(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		m := family.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			continue
		}
		members++
		rate, _ := strconv.Atoi(m[1])
		if w.Topics != 1 || w.PartitionsPerTopic != 100 || w.MessageSize != 1024 || w.ProducersPerTopic != 4 ||
			w.SubscriptionsPerTopic != 1 || w.ConsumerPerSubscription != 4 || w.ProducerRate != float64(rate*1000) ||
			w.TestDurationMinutes != 5 || (m[2] != "") != (w.ConsumerBacklogSizeGB > 0) {
			t.Errorf("%s: %+v", f, *w)
		}
	}
	if members != 5 {
		t.Fatalf("%d files of the 1-topic-100-partitions-1kb-4p-4c family in bench/workloads, want 5", members)
	}
}
