package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/testutil"
)

// commit sets a group's committed offsets directly, as a consumer would.
func (b *testBroker) commit(group string, offsets map[string]map[int32]int64) {
	b.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		b.t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	os := kadm.Offsets{}
	for t, ps := range offsets {
		for p, o := range ps {
			os.AddOffset(t, p, o, -1)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := adm.CommitAllOffsets(ctx, group, os); err != nil {
		b.t.Fatal(err)
	}
}

// offsetsOf is the committed offset of each partition in a description.
func offsetsOf(d groupDescription) string {
	var b strings.Builder
	for _, o := range d.Offsets {
		fmt.Fprintf(&b, "%s/%d=%d lag %d; ", o.Topic, o.Partition, o.CommittedOffset, o.Lag)
	}
	return b.String()
}

func TestCLIGroupLagSeekDelete(t *testing.T) {
	b := startBroker(t)
	b.ok("", "topic", "create", "t", "-p", "2")
	b.ok("", "topic", "create", "u", "-p", "1")
	b.ok("a\nb\nc\nd\ne\nf\n", "produce", "t", "-p", "0")
	b.ok("a\nb\nc\nd\n", "produce", "t", "-p", "1")
	b.ok("1000 a\n2000 b\n3000 c\n", "produce", "u", "--format", `%T %v\n`)
	b.commit("g", map[string]map[int32]int64{"t": {0: 2, 1: 4}})

	// Lag: end minus committed, per partition and in all.
	var descs []groupDescription
	b.okJSON(&descs, "", "group", "describe", "g")
	d := descs[0]
	if d.Group != "g" || d.State != "Empty" || d.Coordinator.NodeID != 1 || len(d.Members) != 0 || d.TotalLag != 4 ||
		offsetsOf(d) != "t/0=2 lag 4; t/1=4 lag 0; " || d.Offsets[0].LogEndOffset != 6 || d.Offsets[0].LogStartOffset != 0 ||
		len(d.TopicLag) != 1 || d.TopicLag[0].Lag != 4 {
		t.Fatalf("describe: %+v", d)
	}
	text := b.ok("", "group", "describe", "g")
	for _, want := range []string{"GROUP          g\n", "STATE          Empty\n", "TOTAL-LAG      4\n",
		"TOPIC  PARTITION  CURRENT-OFFSET  LOG-START-OFFSET  LOG-END-OFFSET  LAG  MEMBER-ID  CLIENT-ID  HOST  ERROR\n",
		"t      0          2               0                 6               4    -          -          -     -\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("describe text lacks %q:\n%s", want, text)
		}
	}
	b.fails("group nope does not exist: GROUP_ID_NOT_FOUND", "", "group", "describe", "nope")

	var listed []groupListEntry
	b.okJSON(&listed, "", "group", "list")
	if len(listed) != 1 || listed[0].Group != "g" || listed[0].Coordinator != 1 {
		t.Fatalf("group list: %+v", listed)
	}

	// Seek: to the start, an offset (kept within the log), the end, a time;
	// a dry run changes nothing.
	seek := func(args ...string) []seekResult {
		t.Helper()
		var res []seekResult
		b.okJSON(&res, "", append([]string{"group", "seek", "g"}, args...)...)
		return res
	}
	if res := seek("--to", "start"); len(res) != 2 || res[0].PriorOffset != 2 || res[0].NewOffset != 0 || res[1].NewOffset != 0 {
		t.Fatalf("seek to start: %+v", res)
	}
	if res := seek("--to", "5"); res[0].NewOffset != 5 || res[1].NewOffset != 4 {
		t.Fatalf("seek to 5 (t/1 ends at 4): %+v", res)
	}
	if res := seek("--to", "end", "--dry-run"); res[0].NewOffset != 6 || res[0].PriorOffset != 5 {
		t.Fatalf("seek --dry-run: %+v", res)
	}
	b.okJSON(&descs, "", "group", "describe", "g")
	if offsetsOf(descs[0]) != "t/0=5 lag 1; t/1=4 lag 0; " {
		t.Fatalf("after a dry run: %s", offsetsOf(descs[0]))
	}
	out := b.ok("", "group", "seek", "g", "--to", "end")
	if out != "TOPIC  PARTITION  PRIOR-OFFSET  NEW-OFFSET  ERROR\nt      0          5             6           -\nt      1          4             4           -\n" {
		t.Fatalf("seek to end:\n%s", out)
	}
	// --topics adds the partitions of other topics; a time finds the first
	// record at or after it, the end when there is none.
	if res := seek("--to", "@1500", "--topics", "u"); len(res) != 1 || res[0].Topic != "u" || res[0].PriorOffset != -1 || res[0].NewOffset != 1 {
		t.Fatalf("seek u to @1500: %+v", res)
	}
	if res := seek("--to", "@9000", "--topics", "u"); res[0].NewOffset != 3 {
		t.Fatalf("seek u to a time after the last record: %+v", res)
	}
	b.okJSON(&descs, "", "group", "describe", "g")
	if offsetsOf(descs[0]) != "t/0=6 lag 0; t/1=4 lag 0; u/0=3 lag 0; " || descs[0].TotalLag != 0 {
		t.Fatalf("after seeks: %s", offsetsOf(descs[0]))
	}
	b.fails("UNKNOWN_TOPIC_OR_PARTITION", "", "group", "seek", "g", "--to", "start", "--topics", "missing")
	b.fails("has no committed offsets", "", "group", "seek", "fresh", "--to", "start")
	// A group that does not exist yet gets its first offsets.
	var fresh []seekResult
	b.okJSON(&fresh, "", "group", "seek", "fresh", "--to", "-1", "--topics", "t")
	if len(fresh) != 2 || fresh[0].PriorOffset != -1 || fresh[0].NewOffset != 5 || fresh[1].NewOffset != 3 {
		t.Fatalf("seek of a new group: %+v", fresh)
	}
	b.okJSON(&descs, "", "group", "describe", "fresh")
	if descs[0].State != "Empty" || offsetsOf(descs[0]) != "t/0=5 lag 1; t/1=3 lag 1; " {
		t.Fatalf("new group after seek: %s %s", descs[0].State, offsetsOf(descs[0]))
	}
	b.ok("", "group", "delete", "fresh")

	// Offsets of one topic go; the others stay.
	out = b.ok("", "group", "offset-delete", "g", "--topic", "u")
	if out != "TOPIC  PARTITION  STATUS\nu      0          deleted\n" {
		t.Fatalf("offset-delete:\n%s", out)
	}
	b.okJSON(&descs, "", "group", "describe", "g")
	if offsetsOf(descs[0]) != "t/0=6 lag 0; t/1=4 lag 0; " {
		t.Fatalf("after offset-delete: %s", offsetsOf(descs[0]))
	}

	// A group with a live member cannot be moved, nor deleted, nor have
	// the offsets of its topics deleted.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan cliResult, 1)
	go func() { done <- b.runCtx(ctx, "", "consume", "t", "-g", "g") }()
	testutil.Eventually(t, 20*time.Second, func() error {
		var descs []groupDescription
		r := b.run("", "group", "describe", "g", "--format", "json")
		if err := jsonUnmarshal(r.stdout, &descs); err != nil {
			return err
		}
		if descs[0].State != "Stable" || len(descs[0].Members) != 1 {
			return fmt.Errorf("group is %s with %d members", descs[0].State, len(descs[0].Members))
		}
		return nil
	})
	b.okJSON(&descs, "", "group", "describe", "g")
	m := descs[0].Members[0]
	if m.ClientID != "gregor-cli" || m.ClientHost == "" || len(m.Assignments) != 1 || m.Assignments[0].Topic != "t" ||
		fmt.Sprint(m.Assignments[0].Partitions) != "[0 1]" || descs[0].Offsets[0].MemberID != m.MemberID {
		t.Fatalf("member: %+v, offsets %+v", m, descs[0].Offsets)
	}
	b.fails("group g is Stable with 1 members", "", "group", "seek", "g", "--to", "start")
	b.fails("NON_EMPTY_GROUP", "", "group", "delete", "g")
	b.fails("GROUP_SUBSCRIBED_TO_TOPIC", "", "group", "offset-delete", "g", "--topic", "t")
	cancel()
	if r := <-done; r.err != nil {
		t.Fatalf("interrupted consume: %v", r.err)
	}

	out = b.ok("", "group", "delete", "g")
	if out != "GROUP  STATUS\ng      deleted\n" {
		t.Fatalf("delete:\n%s", out)
	}
	b.okJSON(&listed, "", "group", "list")
	if len(listed) != 0 {
		t.Fatalf("groups after delete: %+v", listed)
	}
	b.fails("GROUP_ID_NOT_FOUND", "", "group", "delete", "g")
}
