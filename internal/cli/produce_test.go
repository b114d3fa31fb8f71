package cli

import (
	"fmt"
	"strings"
	"testing"
)

func TestCLIProduceConsume(t *testing.T) {
	b := startBroker(t)
	b.ok("", "topic", "create", "t", "-p", "1")

	// Lines, with a key and headers for every record.
	out := b.ok("a\nb\n\nlast without newline", "produce", "t", "--key", "k", "-H", "h1=v1", "-H", "h2=")
	got := lines(out)
	if len(got) != 4 {
		t.Fatalf("produce printed %d lines, want 4:\n%s", len(got), out)
	}
	for i, l := range got {
		if !strings.HasPrefix(l, fmt.Sprintf("Produced to partition 0 at offset %d with timestamp ", i)) {
			t.Fatalf("line %d: %q", i, l)
		}
	}
	out = b.ok("", "consume", "t", "-n", "4", "--format", `%t %p %o %k=%v [%h]\n`)
	if want := "t 0 0 k=a [h1=v1,h2=]\nt 0 1 k=b [h1=v1,h2=]\nt 0 2 k= [h1=v1,h2=]\nt 0 3 k=last without newline [h1=v1,h2=]\n"; out != want {
		t.Fatalf("consume:\n%s\nwant:\n%s", out, want)
	}

	// A template with keys, headers and timestamps; JSON results.
	in := "x\t1\ta=1\t1000\ny\t2\t\t2000\nz\t3\tb=2,c=3\t3000\n"
	out = b.ok(in, "produce", "t", "--format", `%k\t%v\t%h\t%T\n`, "--key", "unused")
	if len(lines(out)) != 3 || !strings.Contains(out, "at offset 6 with timestamp 3000.") {
		t.Fatalf("produce with a template:\n%s", out)
	}
	recs := jsonLines[jsonRecord](t, b.ok("", "consume", "t", "-o", "4", "-n", "3", "--format", "json"))
	if len(recs) != 3 {
		t.Fatalf("consume --format json: %d records", len(recs))
	}
	if r := recs[0]; r.Topic != "t" || r.Partition != 0 || r.Offset != 4 || r.Timestamp != 1000 || *r.Key != "x" || *r.Value != "1" ||
		len(r.Headers) != 1 || r.Headers[0].Key != "a" || *r.Headers[0].Value != "1" {
		t.Fatalf("record 4: %+v", r)
	}
	if r := recs[2]; *r.Key != "z" || r.Timestamp != 3000 || len(r.Headers) != 2 || r.Headers[1].Key != "c" {
		t.Fatalf("record 6: %+v", r)
	}
	if len(recs[1].Headers) != 0 || recs[1].Headers == nil {
		t.Fatalf("record 5 has headers %#v, want []", recs[1].Headers)
	}

	// Offsets: -N from the end, +N from the start, @time.
	if out := b.ok("", "consume", "t", "-o", "-2", "-n", "2", "--format", `%o\n`); out != "5\n6\n" {
		t.Fatalf("-o -2: %q", out)
	}
	if out := b.ok("", "consume", "t", "-o", "+5", "-n", "1", "--format", `%o\n`); out != "5\n" {
		t.Fatalf("-o +5: %q", out)
	}
	// (A time finds the first record at or after it, so the times of a
	// topic for this must grow: t's first records are stamped now.)
	b.ok("1000 a\n2000 b\n3000 c\n", "produce", "ts", "--format", `%T %v\n`)
	if out := b.ok("", "consume", "ts", "-o", "@1500", "-n", "2", "--format", `%o %T\n`); out != "1 2000\n2 3000\n" {
		t.Fatalf("-o @1500: %q", out)
	}
	if out := b.ok("", "consume", "ts", "-o", "@1970-01-01T00:00:02.5Z", "-n", "1", "--format", `%o\n`); out != "2\n" {
		t.Fatalf("-o @RFC3339: %q", out)
	}
	if out := b.ok("", "consume", "t", "-o", "5", "-n", "1", "--print-headers"); out != "\t2\n" {
		t.Fatalf("--print-headers of a record without headers: %q", out)
	}
	if out := b.ok("", "consume", "t", "-o", "6", "-n", "1", "--print-headers"); out != "b=2,c=3\t3\n" {
		t.Fatalf("--print-headers: %q", out)
	}

	// JSON in, JSON out: null key, bytes that are not UTF-8, an explicit
	// partition; what consume prints, produce reads.
	in = `{"key":null,"value":"plain"}
{"key":"k","value":"/w==","value_encoding":"base64","headers":[{"key":"h","value":null}],"partition":0,"timestamp":42}
`
	results := jsonLines[produceResult](t, b.ok(in, "produce", "t", "--format", "json"))
	if len(results) != 2 || results[0].Offset != 7 || results[1].Offset != 8 || results[1].Timestamp != 42 || results[1].Topic != "t" {
		t.Fatalf("produce --format json: %+v", results)
	}
	recs = jsonLines[jsonRecord](t, b.ok("", "consume", "t", "-o", "7", "-n", "2", "--format", "json"))
	if recs[0].Key != nil || *recs[0].Value != "plain" || recs[0].ValueEncoding != "" {
		t.Fatalf("record 7: %+v", recs[0])
	}
	if r := recs[1]; *r.Value != "/w==" || r.ValueEncoding != "base64" || r.Headers[0].Value != nil {
		t.Fatalf("record 8: %+v", r)
	}
	b.ok("", "topic", "create", "copy", "-p", "1")
	copied := b.ok(b.ok("", "consume", "t", "-n", "9", "--format", "json"), "produce", "copy", "--format", "json")
	if len(lines(copied)) != 9 {
		t.Fatalf("copy: %s", copied)
	}
	orig := b.ok("", "consume", "t", "-n", "9", "--format", `%k|%v|%h|%T\n`)
	if dup := b.ok("", "consume", "copy", "-n", "9", "--format", `%k|%v|%h|%T\n`); dup != orig {
		t.Fatalf("copied records differ:\n%s\nwant:\n%s", dup, orig)
	}

	// Failures name the Kafka error and end non-zero.
	b.fails("UNKNOWN_TOPIC_OR_PARTITION", "", "consume", "missing", "-n", "1")
	b.fails("has no partition 3", "", "consume", "t", "-p", "3", "-n", "1")
	b.fails("--offset 3 with --group", "", "consume", "t", "-g", "g", "-o", "3")
	b.fails("--format \"yaml\"", "", "consume", "t", "--format", "yaml")
	b.fails("unknown verb %x", "", "consume", "t", "--format", "%x")
	b.fails("need text between them", "", "produce", "t", "--format", `%k%v\n`)
	b.fails("produce reads only", "", "produce", "t", "--format", `%o %v\n`)
	b.fails("--acks \"2\"", "x\n", "produce", "t", "--acks", "2")
	b.fails("1 of 1 records failed; first: record 1: invalid record partitioning choice of 5", "x\n", "produce", "t", "-p", "5")
	r := b.fails("input record 2", "a b\nno-space\n", "produce", "t", "--format", `%k %v\n`)
	if len(lines(r.stdout)) != 1 {
		t.Fatalf("records before the bad line are produced: %q", r.stdout)
	}
}

func TestCLIProduceAcksAndPartitioning(t *testing.T) {
	b := startBroker(t)
	b.ok("", "topic", "create", "t", "-p", "3")
	// Keys hash to the same partition every time (murmur2, as Java's).
	out := b.ok("k1 a\nk2 b\nk1 c\nk2 d\n", "produce", "t", "--format", `%k %v\n`, "--compression", "zstd")
	res := lines(out)
	part := func(l string) string { return strings.Fields(l)[3] }
	if part(res[0]) != part(res[2]) || part(res[1]) != part(res[3]) {
		t.Fatalf("same key, different partitions:\n%s", out)
	}
	out = b.ok("p0\np1\n", "produce", "t", "--acks", "0", "-p", "2")
	if !strings.Contains(out, "partition 2 at offset -1") {
		t.Fatalf("acks=0: offsets are not known:\n%s", out)
	}
	out = b.ok("0|v\n1|w\n", "produce", "t", "--acks", "1", "--format", `%p|%v\n`, "-p", "2", "-z", "gzip")
	if res := lines(out); !strings.Contains(res[0], "partition 0") || !strings.Contains(res[1], "partition 1") {
		t.Fatalf("partitions from the input win over -p:\n%s", out)
	}
	// The records with acks=0 arrived.
	b.ok("", "consume", "t", "-p", "2", "-n", "2")
}

func TestCLIConsumeGroupCommits(t *testing.T) {
	b := startBroker(t)
	b.ok("", "topic", "create", "t", "-p", "1")
	b.ok("1\n2\n3\n4\n5\n", "produce", "t")
	if out := b.ok("", "consume", "t", "-g", "g", "-n", "2"); out != "1\n2\n" {
		t.Fatalf("first member: %q", out)
	}
	// The next member resumes after the committed offset; --offset only
	// applies where there is no commit.
	if out := b.ok("", "consume", "t", "-g", "g", "-n", "2", "-o", "end"); out != "3\n4\n" {
		t.Fatalf("second member: %q", out)
	}
	var descs []groupDescription
	b.okJSON(&descs, "", "group", "describe", "g")
	if len(descs) != 1 || len(descs[0].Offsets) != 1 || descs[0].Offsets[0].CommittedOffset != 4 || descs[0].TotalLag != 1 {
		t.Fatalf("group after two members: %+v", descs)
	}
}
