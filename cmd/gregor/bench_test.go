package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// parseBench parses args with the bench subcommand named by its first arg
// and runs its flag resolution only (no broker is contacted).
func parseBench(t *testing.T, args ...string) (*cobra.Command, *benchCommon, *benchProduce, error) {
	t.Helper()
	var common benchCommon
	var prod benchProduce
	cmd := &cobra.Command{Use: args[0]}
	common.register(cmd.Flags())
	prod.register(cmd.Flags())
	if err := cmd.Flags().Parse(args[1:]); err != nil {
		t.Fatal(err)
	}
	return cmd, &common, &prod, prod.resolve(cmd, &common)
}

func TestBenchCmdFlagRules(t *testing.T) {
	_, common, prod, err := parseBench(t, "produce")
	if err != nil {
		t.Fatal(err)
	}
	c := prod.cfg
	if c.Duration != 10*time.Second || c.Records != 0 || c.Topic != "gregor-bench" || c.Brokers[0] != "localhost:9092" ||
		c.RecordSize != 1024 || c.Partitions != 1 || c.BatchBytes != 1<<20 || !c.Idempotent || common.json {
		t.Fatalf("defaults: %+v", c)
	}

	_, _, prod, err = parseBench(t, "produce", "--records", "500", "--acks", "1")
	if err != nil || prod.cfg.Records != 500 || prod.cfg.Duration != 0 || prod.cfg.Idempotent {
		t.Fatalf("--records 500 --acks 1: %+v, %v; want records mode, not idempotent", prod.cfg, err)
	}

	for _, bad := range [][]string{
		{"produce", "--records", "5", "--duration", "1s"},
		{"produce", "--records", "0"},
		{"produce", "--acks", "2"},
		{"produce", "--log-level", "loud"},
	} {
		if _, _, _, err := parseBench(t, bad...); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

func TestBenchCmdConfigHasEveryFlag(t *testing.T) {
	cmd, _, _, err := parseBench(t, "produce", "--records", "7", "--brokers", "a:1,b:2", "--rate", "2.5")
	if err != nil {
		t.Fatal(err)
	}
	vals := flagValues(cmd.Flags())
	raw, err := json.Marshal(vals)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	n := 0
	for name := range strings.FieldsSeq("brokers topic partitions replication-factor record-size records duration warmup json progress drain-timeout log-level acks compression linger batch-bytes producers idempotent max-inflight max-buffered-records rate keys") {
		n++
		if _, ok := got[name]; !ok {
			t.Errorf("config lacks --%s", name)
		}
	}
	if len(got) != n {
		t.Errorf("config has %d entries, want %d: %v", len(got), n, got)
	}
	if got["records"] != 7.0 || got["rate"] != 2.5 || got["duration"] != "0s" || got["idempotent"] != true ||
		got["acks"] != "all" || len(got["brokers"].([]any)) != 2 {
		t.Fatalf("config values: %s", raw)
	}
}

// TestBenchCmdWorkloadRefusesBeforeConnecting runs `bench workload` with
// a bad file or flag and a closed broker port: each is refused with its
// own error, before any broker is contacted.
func TestBenchCmdWorkloadRefusesBeforeConnecting(t *testing.T) {
	dir := t.TempDir()
	good := "topics: 1\npartitionsPerTopic: 1\nmessageSize: 100\nsubscriptionsPerTopic: 1\nproducersPerTopic: 1\n" +
		"consumerPerSubscription: 1\nproducerRate: 10\ntestDurationMinutes: 1\n"
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodFile, typo := write("good.yaml", good), write("typo.yaml", good+"producerRates: 5\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{typo}, `unknown field "producerRates"`},
		{[]string{filepath.Join(dir, "absent.yaml")}, "no such file"},
		{[]string{goodFile, "--rate-scale", "0"}, "--rate-scale 0: want > 0"},
		{[]string{goodFile, "--backlog-scale", "-1"}, "--backlog-scale -1: want > 0"},
		{[]string{goodFile, "--duration", "-1s"}, "negative"},
		{[]string{goodFile, "--acks", "2"}, "acks"},
		{[]string{}, "accepts 1 arg"},
	} {
		cmd := benchWorkloadCmd()
		cmd.SetArgs(append(c.args, "--brokers", "127.0.0.1:1", "--log-level", "error"))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	cmd := benchWorkloadCmd()
	for name, want := range map[string]string{"linger": "1ms", "fetch-max-partition-bytes": "10485760", "acks": "all", "rate-scale": "1"} {
		if f := cmd.Flags().Lookup(name); f == nil || f.DefValue != want || f.Value.String() != want {
			t.Errorf("--%s default: %+v, want %s", name, f, want)
		}
	}
}
