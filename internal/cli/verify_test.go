package cli

import (
	"strings"
	"testing"
)

func TestCLIVerifyCleanRun(t *testing.T) {
	b := startBroker(t)
	args := []string{"verify", "--topic", "v", "--partitions", "2", "--duration", "1s", "--rate", "300",
		"--group", "vg", "--drain-timeout", "3s"}
	out := b.ok("", args...)
	for _, want := range []string{"ANOMALY", "lost", "commits_backwards", "OK: no anomalies"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A second run on the same topic ignores the first run's values.
	var rep struct {
		Topic      string `json:"topic"`
		OK         bool   `json:"ok"`
		Sent       int    `json:"sent"`
		OtherReads int    `json:"other_reads"`
		Anomalies  []struct {
			Kind  string `json:"kind"`
			Count int    `json:"count"`
		} `json:"anomalies"`
	}
	r := b.run("", append(args, "--json", "--quiet")...)
	if r.err != nil {
		t.Fatalf("verify --json: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if err := jsonUnmarshal(r.stdout, &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if !rep.OK || rep.Topic != "v" || rep.Sent == 0 || rep.OtherReads == 0 || len(rep.Anomalies) != 7 {
		t.Errorf("report %+v", rep)
	}
	if strings.Contains(r.stderr, "verify ") {
		t.Errorf("progress despite --quiet: %s", r.stderr)
	}
}

func TestCLIVerifyTransactionalRefused(t *testing.T) {
	b := startBroker(t)
	r := b.fails("does not support transactions", "", "verify", "--topic", "v", "--duration", "1s", "--transactional")
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestCLIVerifyBadFlags(t *testing.T) {
	b := startBroker(t)
	b.fails("--acks", "", "verify", "--acks", "2")
	b.fails("idempotent", "", "verify", "--acks", "1", "--idempotent")
}
