package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCLITemplateRender(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 2, Offset: 41, Key: []byte("k"), Value: []byte("v"),
		Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}}, Timestamp: time.UnixMilli(1700000000123)}
	for _, tc := range []struct{ format, want string }{
		{`%v\n`, "v\n"},
		{`%t/%p@%o %k=%v [%h] %T 100%%\t\\\r`, "t/2@41 k=v [a=1,b=] 1700000000123 100%\t\\\r"},
		{`no verbs`, "no verbs"},
	} {
		tpl, err := parseTemplate(tc.format)
		if err != nil {
			t.Fatalf("%q: %v", tc.format, err)
		}
		if got := string(tpl.appendRecord(nil, r)); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.format, got, tc.want)
		}
	}
	for _, bad := range []string{`%`, `%x`, `\`, `\q`, `50%`} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// readAll reads every record of input with the template.
func readAll(t *testing.T, format, input string) ([]inputRecord, error) {
	t.Helper()
	tpl, err := parseTemplate(format)
	if err != nil {
		t.Fatal(err)
	}
	if err := tpl.checkInput(); err != nil {
		return nil, err
	}
	tr := newTemplateReader(tpl, strings.NewReader(input))
	var out []inputRecord
	for {
		in, err := tr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, in)
	}
}

// show renders what a reader produced, for comparison.
func show(ins []inputRecord) string {
	var b strings.Builder
	for _, in := range ins {
		r := in.rec
		key := "nil"
		if in.hasKey {
			key = fmt.Sprintf("%q", r.Key)
		}
		val := "nil"
		if r.Value != nil {
			val = fmt.Sprintf("%q", r.Value)
		}
		fmt.Fprintf(&b, "k=%s v=%s p=%d", key, val, in.partition)
		for _, h := range r.Headers {
			fmt.Fprintf(&b, " h:%s=%s", h.Key, h.Value)
		}
		if !r.Timestamp.IsZero() {
			fmt.Fprintf(&b, " T=%d", r.Timestamp.UnixMilli())
		}
		b.WriteString("; ")
	}
	return b.String()
}

func TestCLITemplateReader(t *testing.T) {
	for _, tc := range []struct {
		name, format, input, want, err string
	}{
		{"lines", `%v\n`, "a\nb\n", `k=nil v="a" p=-1; k=nil v="b" p=-1; `, ""},
		{"last line without newline", `%v\n`, "a\nb", `k=nil v="a" p=-1; k=nil v="b" p=-1; `, ""},
		{"empty lines are empty values", `%v\n`, "\n\n", `k=nil v="" p=-1; k=nil v="" p=-1; `, ""},
		{"no input", `%v\n`, "", ``, ""},
		{"key and value", `%k %v\n`, "k1 v 1\nk2 v2\n", `k="k1" v="v 1" p=-1; k="k2" v="v2" p=-1; `, ""},
		{"all input verbs", `%p|%T|%h|%k|%v\n`, "3|1000|a=1,b=2|k|v\n0|5||k|\n",
			`k="k" v="v" p=3 h:a=1 h:b=2 T=1000; k="k" v="" p=0 T=5; `, ""},
		{"leading text", `key=%k value=%v;\n`, "key=a value=b;\n", `k="a" v="b" p=-1; `, ""},
		{"multi-byte record separator", `%v--\n`, "a--\nb-\n--\n", `k=nil v="a" p=-1; k=nil v="b-\n" p=-1; `, ""},
		{"whole input as one record", `%v`, "a\nb\n", `k=nil v="a\nb\n" p=-1; `, ""},
		{"key only: null values", `%k\n`, "a\n", `k="a" v=nil p=-1; `, ""},
		{"missing separator", `%k %v\n`, "a b\nc\n", `k="a" v="b" p=-1; `, `input record 2: no " " after %k`},
		{"bad partition", `%p %v\n`, "x v\n", ``, `partition "x"`},
		{"bad header", `%h %v\n`, "a v\n", ``, `header "a": want key=value`},
		{"bad timestamp", `%T %v\n`, "soon v\n", ``, `timestamp "soon"`},
		{"wrong leading text", `k=%k %v\n`, "x=a b\n", ``, `want "k="`},
		{"adjacent verbs", `%k%v\n`, "", ``, "need text between them"},
		{"output-only verb", `%o %v\n`, "", ``, "produce reads only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := readAll(t, tc.format, tc.input)
			if got := show(ins); got != tc.want {
				t.Errorf("records %s\nwant    %s", got, tc.want)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestCLITemplateReaderLongLine(t *testing.T) {
	long := strings.Repeat("x", 300<<10) // longer than the reader's buffer
	ins, err := readAll(t, `%k %v\n`, "k "+long+"\nk2 v\n")
	if err != nil || len(ins) != 2 || string(ins[0].rec.Value) != long || string(ins[1].rec.Key) != "k2" {
		t.Fatalf("%d records, %v", len(ins), err)
	}
}

func TestCLIJSONRecordRoundTrip(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 1, Offset: 9, Key: nil, Value: []byte{0xff, 0x00, 'a'},
		Headers:   []kgo.RecordHeader{{Key: "u", Value: []byte("ü")}, {Key: "n", Value: nil}, {Key: "b", Value: []byte{0xc3}}},
		Timestamp: time.UnixMilli(77), LeaderEpoch: 3}
	var buf bytes.Buffer
	if err := writeJSONLine(&buf, toJSONRecord(r)); err != nil {
		t.Fatal(err)
	}
	want := `{"topic":"t","partition":1,"offset":9,"timestamp":77,"key":null,"value":"/wBh","value_encoding":"base64",` +
		`"headers":[{"key":"u","value":"ü"},{"key":"n","value":null},{"key":"b","value":"ww==","value_encoding":"base64"}],"leader_epoch":3}` + "\n"
	if buf.String() != want {
		t.Fatalf("json:\n%s\nwant:\n%s", buf.String(), want)
	}
	in, err := newJSONReader(&buf).next()
	if err != nil {
		t.Fatal(err)
	}
	got := in.rec
	if in.hasKey || got.Key != nil || !bytes.Equal(got.Value, r.Value) || in.partition != 1 || got.Timestamp.UnixMilli() != 77 ||
		len(got.Headers) != 3 || string(got.Headers[0].Value) != "ü" || got.Headers[1].Value != nil || !bytes.Equal(got.Headers[2].Value, []byte{0xc3}) {
		t.Fatalf("read back: %+v partition %d", got, in.partition)
	}

	jr := newJSONReader(strings.NewReader(`{"value":"a"} {"value":"b","key":""}` + "\n" + `{"value":"x","value_encoding":"hex"}`))
	a, err1 := jr.next()
	b, err2 := jr.next()
	_, err3 := jr.next()
	if err1 != nil || err2 != nil || string(a.rec.Value) != "a" || a.partition != -1 || !b.hasKey || b.rec.Key == nil || len(b.rec.Key) != 0 {
		t.Fatalf("records %+v %+v, errors %v %v", a, b, err1, err2)
	}
	if err3 == nil || !strings.Contains(err3.Error(), `input record 3: value: encoding "hex"`) {
		t.Fatalf("bad encoding: %v", err3)
	}
	if _, err := newJSONReader(strings.NewReader(`{"partition":-2}`)).next(); err == nil {
		t.Fatal("negative partition accepted")
	}
	if _, err := newJSONReader(strings.NewReader(`[1]`)).next(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("not an object: %v", err)
	}
}
