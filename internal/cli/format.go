package cli

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A record template is text with verbs, as kcat's -f/-F and rpk's -f:
//
//	%t topic          %p partition       %o offset
//	%k key            %v value           %h headers as k=v,k=v
//	%T timestamp (milliseconds since the epoch)
//	%% a percent sign
//
// and the escapes \n \t \r \\. Consume prints every record through its
// template; produce reads records with it (%k %v %h %p %T; each verb reads
// up to the text that follows it, so two verbs need text between them).

const templateVerbs = "tpokvhT"

// templatePart is a literal (verb 0) or a verb.
type templatePart struct {
	verb byte
	lit  string
}

type template []templatePart

func parseTemplate(s string) (template, error) {
	var (
		out template
		lit strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, templatePart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("format %q: trailing \\", s)
			}
			i++
			switch s[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			default:
				return nil, fmt.Errorf("format %q: unknown escape \\%c (want \\n \\t \\r \\\\)", s, s[i])
			}
		case '%':
			if i+1 == len(s) {
				return nil, fmt.Errorf("format %q: trailing %%", s)
			}
			i++
			if s[i] == '%' {
				lit.WriteByte('%')
				continue
			}
			if !strings.ContainsRune(templateVerbs, rune(s[i])) {
				return nil, fmt.Errorf("format %q: unknown verb %%%c (want %%t %%p %%o %%k %%v %%h %%T %%%%)", s, s[i])
			}
			flush()
			out = append(out, templatePart{verb: s[i]})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return out, nil
}

// has reports whether the template uses verb.
func (t template) has(verb byte) bool {
	for _, p := range t {
		if p.verb == verb {
			return true
		}
	}
	return false
}

// appendRecord appends r rendered by the template.
func (t template) appendRecord(dst []byte, r *kgo.Record) []byte {
	for _, p := range t {
		switch p.verb {
		case 0:
			dst = append(dst, p.lit...)
		case 't':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 'k':
			dst = append(dst, r.Key...)
		case 'v':
			dst = append(dst, r.Value...)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = append(dst, h.Value...)
			}
		case 'T':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		}
	}
	return dst
}

// errInputVerb is a produce template verb that input cannot carry.
var errInputVerb = errors.New("produce reads only %k %v %h %p %T")

// checkInput checks a template for reading: known input verbs, and text
// between any two verbs (the text is what ends a verb's field).
func (t template) checkInput() error {
	for i, p := range t {
		if p.verb == 0 {
			continue
		}
		if !strings.ContainsRune("kvhpT", rune(p.verb)) {
			return fmt.Errorf("format: %%%c: %w", p.verb, errInputVerb)
		}
		if i+1 < len(t) && t[i+1].verb != 0 {
			return fmt.Errorf("format: %%%c and %%%c need text between them", p.verb, t[i+1].verb)
		}
	}
	return nil
}

// inputRecord is a record read from produce's input; Partition is -1 when
// the input does not name one.
type inputRecord struct {
	rec       *kgo.Record
	partition int32
	hasKey    bool
}

// templateReader reads records laid out by a template. The template's
// last text (usually \n) ends each record; the fields inside a record are
// split by the texts between the verbs. A template that ends with a verb
// reads the whole input as one record.
type templateReader struct {
	fields template // the template without its terminator
	term   string   // the record terminator; "" for the whole input
	r      *bufio.Reader
	num    int // records read, for error messages
	done   bool
}

func newTemplateReader(t template, r io.Reader) *templateReader {
	tr := &templateReader{fields: t, r: bufio.NewReaderSize(r, 64<<10)}
	if n := len(t); n > 0 && t[n-1].verb == 0 {
		tr.fields, tr.term = t[:n-1], t[n-1].lit
	}
	return tr
}

// next reads one record; io.EOF at the end of input. A last record without
// its terminator (a last line without a newline) is still a record.
func (tr *templateReader) next() (inputRecord, error) {
	in := inputRecord{rec: &kgo.Record{}, partition: -1}
	if tr.done {
		return in, io.EOF
	}
	raw, found, err := readField(tr.r, tr.term)
	if err != nil {
		return in, fmt.Errorf("input: %w", err)
	}
	if !found {
		tr.done = true
		if len(raw) == 0 {
			return in, io.EOF
		}
	}
	tr.num++
	rest := raw
	for i := 0; i < len(tr.fields); i++ {
		p := tr.fields[i]
		if p.verb == 0 {
			if !bytes.HasPrefix(rest, []byte(p.lit)) {
				return in, fmt.Errorf("input record %d: want %q at %q", tr.num, p.lit, rest)
			}
			rest = rest[len(p.lit):]
			continue
		}
		field := rest
		if i+1 < len(tr.fields) {
			delim := tr.fields[i+1].lit
			at := bytes.Index(rest, []byte(delim))
			if at < 0 {
				return in, fmt.Errorf("input record %d: no %q after %%%c in %q", tr.num, delim, p.verb, raw)
			}
			field, rest = rest[:at], rest[at+len(delim):]
			i++
		} else {
			rest = nil
		}
		if err := in.setField(p.verb, field); err != nil {
			return in, fmt.Errorf("input record %d: %w", tr.num, err)
		}
	}
	if len(rest) > 0 {
		return in, fmt.Errorf("input record %d: unexpected %q after the last field", tr.num, rest)
	}
	return in, nil
}

// readField reads up to delim (consumed, not returned), or to the end of
// input when delim is empty or missing; found says whether delim was seen.
func readField(r *bufio.Reader, delim string) (field []byte, found bool, err error) {
	if delim == "" {
		b, err := io.ReadAll(r)
		return b, false, err
	}
	last := delim[len(delim)-1]
	var buf []byte
	for {
		chunk, err := r.ReadSlice(last)
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			if bytes.HasSuffix(buf, []byte(delim)) {
				return buf[:len(buf)-len(delim)], true, nil
			}
		case errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
			return buf, false, nil
		default:
			return nil, false, err
		}
	}
}

func (in *inputRecord) setField(verb byte, field []byte) error {
	switch verb {
	case 'k':
		in.rec.Key = bytes.Clone(field)
		in.hasKey = true
	case 'v':
		in.rec.Value = bytes.Clone(field)
	case 'h':
		if len(field) == 0 {
			return nil
		}
		for _, kv := range strings.Split(string(field), ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("header %q: want key=value", kv)
			}
			in.rec.Headers = append(in.rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	case 'p':
		n, err := strconv.ParseInt(string(field), 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("partition %q: want a number >= 0", field)
		}
		in.partition = int32(n)
	case 'T':
		ms, err := strconv.ParseInt(string(field), 10, 64)
		if err != nil {
			return fmt.Errorf("timestamp %q: want milliseconds since the epoch", field)
		}
		in.rec.Timestamp = time.UnixMilli(ms)
	}
	return nil
}

// jsonRecord is a record in JSON: one line of consume --format json, and
// one value of produce --format json's input. Key, value and header values
// are UTF-8 text, or base64 when they are not valid UTF-8 (then the
// matching *_encoding field says "base64"); null for a null key or value.
type jsonRecord struct {
	Topic         string       `json:"topic"`
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Timestamp     int64        `json:"timestamp"` // milliseconds since the epoch
	Key           *string      `json:"key"`
	KeyEncoding   string       `json:"key_encoding,omitempty"`
	Value         *string      `json:"value"`
	ValueEncoding string       `json:"value_encoding,omitempty"`
	Headers       []jsonHeader `json:"headers"`
	LeaderEpoch   int32        `json:"leader_epoch"`
}

type jsonHeader struct {
	Key           string  `json:"key"`
	Value         *string `json:"value"`
	ValueEncoding string  `json:"value_encoding,omitempty"`
}

const base64Encoding = "base64"

func encodeBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s, base64Encoding
}

func decodeBytes(s *string, encoding string) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	switch encoding {
	case "":
		return []byte(*s), nil
	case base64Encoding:
		return base64.StdEncoding.DecodeString(*s)
	}
	return nil, fmt.Errorf("encoding %q: want base64 or none", encoding)
}

// writeJSONLine prints v as one compact line: the JSON of produce and
// consume, one value per record.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func toJSONRecord(r *kgo.Record) jsonRecord {
	j := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
		Headers: make([]jsonHeader, 0, len(r.Headers)), LeaderEpoch: r.LeaderEpoch}
	j.Key, j.KeyEncoding = encodeBytes(r.Key)
	j.Value, j.ValueEncoding = encodeBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueEncoding = encodeBytes(h.Value)
		j.Headers = append(j.Headers, jh)
	}
	return j
}

// jsonInput is what produce reads in JSON: jsonRecord's fields that make
// sense on input, all optional (topic and offset are ignored).
type jsonInput struct {
	Partition     *int32       `json:"partition"`
	Timestamp     *int64       `json:"timestamp"`
	Key           *string      `json:"key"`
	KeyEncoding   string       `json:"key_encoding"`
	Value         *string      `json:"value"`
	ValueEncoding string       `json:"value_encoding"`
	Headers       []jsonHeader `json:"headers"`
}

// jsonReader reads a stream of JSON records (one per line, or any
// whitespace between them).
type jsonReader struct {
	dec *json.Decoder
	num int
}

func newJSONReader(r io.Reader) *jsonReader { return &jsonReader{dec: json.NewDecoder(r)} }

func (jr *jsonReader) next() (inputRecord, error) {
	jr.num++
	var j jsonInput
	if err := jr.dec.Decode(&j); err != nil {
		if err == io.EOF {
			return inputRecord{}, io.EOF
		}
		return inputRecord{}, fmt.Errorf("input record %d: %w", jr.num, err)
	}
	in := inputRecord{rec: &kgo.Record{}, partition: -1, hasKey: j.Key != nil}
	var err error
	if in.rec.Key, err = decodeBytes(j.Key, j.KeyEncoding); err != nil {
		return in, fmt.Errorf("input record %d: key: %w", jr.num, err)
	}
	if in.rec.Value, err = decodeBytes(j.Value, j.ValueEncoding); err != nil {
		return in, fmt.Errorf("input record %d: value: %w", jr.num, err)
	}
	for _, h := range j.Headers {
		v, err := decodeBytes(h.Value, h.ValueEncoding)
		if err != nil {
			return in, fmt.Errorf("input record %d: header %q: %w", jr.num, h.Key, err)
		}
		in.rec.Headers = append(in.rec.Headers, kgo.RecordHeader{Key: h.Key, Value: v})
	}
	if j.Partition != nil {
		if *j.Partition < 0 {
			return in, fmt.Errorf("input record %d: partition %d: want >= 0", jr.num, *j.Partition)
		}
		in.partition = *j.Partition
	}
	if j.Timestamp != nil {
		in.rec.Timestamp = time.UnixMilli(*j.Timestamp)
	}
	return in, nil
}
