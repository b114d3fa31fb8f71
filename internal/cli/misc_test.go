package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestCLIParseOffset(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	for _, tc := range []struct {
		in   string
		want offsetSpec
	}{
		{"start", offsetSpec{kind: offsetStart}},
		{"beginning", offsetSpec{kind: offsetStart}},
		{"end", offsetSpec{kind: offsetEnd}},
		{"0", offsetSpec{kind: offsetExact}},
		{"42", offsetSpec{kind: offsetExact, n: 42}},
		{"-3", offsetSpec{kind: offsetFromEnd, n: 3}},
		{"+3", offsetSpec{kind: offsetFromStart, n: 3}},
		{"@1500", offsetSpec{kind: offsetTime, ms: 1500}},
		{"@1970-01-01T00:00:02.5Z", offsetSpec{kind: offsetTime, ms: 2500}},
		{"@-1h", offsetSpec{kind: offsetTime, ms: 10_000_000 - 3_600_000}},
		{"@-0s", offsetSpec{kind: offsetTime, ms: 10_000_000}},
	} {
		got, err := parseOffset(tc.in, now)
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "-", "+", "--1", "1.5", "@", "@yesterday", "@-x", "@-1", "-1h"} {
		if _, err := parseOffset(bad, now); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	// Each kind maps to the kgo offset of the same meaning.
	for _, s := range []string{"start", "end", "7", "-2", "+2", "@99"} {
		o, _ := parseOffset(s, now)
		if o.kgo().String() == "" {
			t.Errorf("%s: no kgo offset", s)
		}
	}
}

func TestCLIProgressLine(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(100, 0)
	p := &progress{w: &buf, enabled: true, what: "consumed", unit: "records", total: 200, now: func() time.Time { return clock }}
	p.start = clock
	p.update(10)
	clock = clock.Add(50 * time.Millisecond)
	p.update(20) // within progressInterval: not drawn
	clock = clock.Add(time.Second)
	p.update(50)
	p.update(200) // the total is always drawn
	p.finish()
	want := "\rconsumed 10/200 records (5%)  0.0s\x1b[K" +
		"\rconsumed 50/200 records (25%)  1.1s\x1b[K" +
		"\rconsumed 200/200 records (100%)  1.1s\x1b[K" +
		"\r\x1b[K"
	if buf.String() != want {
		t.Fatalf("progress:\n%q\nwant:\n%q", buf.String(), want)
	}

	buf.Reset()
	p = &progress{w: &buf, enabled: true, what: "consumed", unit: "records", now: func() time.Time { return clock }, start: clock}
	p.update(5)
	if !strings.Contains(buf.String(), "consumed 5 records  0.0s") {
		t.Fatalf("without a total: %q", buf.String())
	}
	// Not a terminal: nothing is drawn.
	s := &session{out: &buf, errOut: &buf}
	buf.Reset()
	p = newProgress(s, "consumed", "records", 10, false)
	p.update(1)
	p.finish()
	if buf.Len() != 0 || isTerminal(&buf) {
		t.Fatalf("drawn on a buffer: %q", buf.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("a regular file is a terminal")
	}
}

func TestCLIAlterOps(t *testing.T) {
	a := alterFlags{sets: []string{"b=2"}, deletes: []string{"c"}, appends: []string{"d=x"}, subtracts: []string{"e=y"}}
	ops, err := a.ops([]string{"a=1", "z="})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range ops {
		v := "nil"
		if o.Value != nil {
			v = *o.Value
		}
		got = append(got, fmt.Sprintf("%s %s %s", o.Op, o.Name, v))
	}
	if s := strings.Join(got, "; "); s != "set a 1; set z ; set b 2; delete c nil; append d x; subtract e y" {
		t.Fatalf("ops: %s", s)
	}
	for _, bad := range []alterFlags{{}, {sets: []string{"=1"}}, {deletes: []string{""}}, {sets: []string{"a=1"}, appends: []string{"a=2"}}} {
		if _, err := bad.ops(nil); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}

func TestCLIFailures(t *testing.T) {
	f := failures{what: "topics"}
	f.add(nil)
	if f.err() != nil {
		t.Fatal(f.err())
	}
	f.add(kerr.TopicAlreadyExists)
	f.add(kerr.InvalidTopicException)
	err := f.err()
	if !errors.Is(err, kerr.TopicAlreadyExists) || !strings.HasPrefix(err.Error(), "2 of 3 topics failed; first: TOPIC_ALREADY_EXISTS") {
		t.Fatalf("err: %v", err)
	}
	one := failures{what: "topics"}
	one.add(kerr.UnknownTopicOrPartition)
	if one.err() != kerr.UnknownTopicOrPartition {
		t.Fatalf("one item: %v", one.err())
	}
	if err := kafkaErr(kerr.PolicyViolation, "too many partitions"); err.Error() != kerr.PolicyViolation.Error()+" (too many partitions)" || !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("kafkaErr: %v", err)
	}
}

func TestCLIBrokersFromEnvironment(t *testing.T) {
	b := startBroker(t)
	t.Setenv(EnvBrokers, b.addr)
	root := newRoot()
	var out bytes.Buffer
	root.SetArgs([]string{"cluster", "health"})
	root.SetOut(&out)
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "HEALTHY                      true") {
		t.Fatalf("with %s=%s: %v\n%s", EnvBrokers, b.addr, err, out.String())
	}
	// --brokers wins over the environment.
	t.Setenv(EnvBrokers, "127.0.0.1:1")
	if out := b.ok("", "cluster", "health"); !strings.Contains(out, "true") {
		t.Fatalf("--brokers: %s", out)
	}
	b.fails("--format \"yaml\": want text or json", "", "topic", "list", "--format", "yaml")
}

func TestCLICompletion(t *testing.T) {
	b := startBroker(t)
	b.ok("", "topic", "create", "orders")
	b.ok("", "topic", "create", "events")
	b.commit("billing", map[string]map[int32]int64{"orders": {0: 0}})

	// cobra's hidden __complete command is what the shell scripts call;
	// the word to complete comes last.
	complete := func(args ...string) string {
		t.Helper()
		root := newRoot()
		var out bytes.Buffer
		root.SetArgs(append([]string{"__complete", "--brokers", b.addr}, args...))
		root.SetOut(&out)
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	out := complete("topic", "describe", "or")
	if !strings.HasPrefix(out, "orders\n:4\n") {
		t.Fatalf("topic completion:\n%s", out)
	}
	if out := complete("consume", ""); !strings.HasPrefix(out, "events\norders\n:4\n") {
		t.Fatalf("consume completion:\n%s", out)
	}
	if out := complete("group", "describe", "b"); !strings.HasPrefix(out, "billing\n:4\n") {
		t.Fatalf("group completion:\n%s", out)
	}
	if out := complete("config", "get", ""); !strings.HasPrefix(out, "broker\ntopic\n:4\n") {
		t.Fatalf("config completion:\n%s", out)
	}
	if out := complete("config", "get", "topic", "e"); !strings.HasPrefix(out, "events\n:4\n") {
		t.Fatalf("config topic completion:\n%s", out)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		root := newRoot()
		var out bytes.Buffer
		root.SetArgs([]string{"completion", shell})
		root.SetOut(&out)
		if err := root.Execute(); err != nil || !strings.Contains(out.String(), "gregor") {
			t.Fatalf("completion %s: %v", shell, err)
		}
	}
}
