package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/bench"
)

const produceLong = `Produce records read from stdin to TOPIC, and print where each one went
(partition and offset, in input order) once acknowledged.

--format says how stdin holds records:
  text (default)  one record value per line (the template '%v\n')
  json            JSON records as consume --format json prints them, one per
                  line: {"key":..,"value":..,"headers":[{"key":..,"value":..}],
                  "partition":..,"timestamp":..}; every field optional,
                  topic and offset ignored; *_encoding "base64" for bytes
  a template      text with verbs, e.g. '%k\t%v\n' or '%h|%v\n':
                  %k key, %v value, %h headers (k=v,k=v), %p partition,
                  %T timestamp in ms; escapes \n \t \r \\; the template's
                  last text ends a record, and each verb reads up to the text
                  after it
With json the results are JSON lines too: {"topic","partition","offset",
"timestamp","error"}.

--key and --header apply to every record (--key only where the input gives no
key). A partition from the input wins over --partition; without either the
partition is chosen as Kafka's Java client does (murmur2 of the key, sticky
for records without a key). The topic is created when the broker auto-creates
topics. Each record must be acknowledged within --timeout.`

func produceCmd(g *globals) *cobra.Command {
	var f produceFlags
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records read from stdin",
		Long:  produceLong,
		Example: `  echo hello | gregor produce orders
  printf 'k1 v1\nk2 v2\n' | gregor produce orders --format '%k %v\n' --header source=cli
  gregor consume orders --format json -n 10 | gregor produce orders-copy --format json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTopics(g),
		Annotations:       map[string]string{formatUsageKey: "input records: text (a value per line), json, or a template (see above); json also prints JSON lines"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(g, cmd, args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.key, "key", "k", "", "key of every record whose input gives none")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "header key=value added to every record (repeatable)")
	fl.Int32VarP(&f.partition, "partition", "p", -1, "partition of records whose input names none (-1: the partitioner)")
	fl.StringVar(&f.acks, "acks", "all", "acks: 0, 1 or all")
	fl.StringVarP(&f.compression, "compression", "z", "none", "none, gzip, snappy, lz4 or zstd")
	return cmd
}

type produceFlags struct {
	key         string
	headers     []string
	partition   int32
	acks        string
	compression string
}

// produceResult is one line of produce's JSON output.
//
// With acks=0 the broker sends no answer, so the offset is -1.
type produceResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`    // -1 with acks=0
	Timestamp int64  `json:"timestamp"` // milliseconds since the epoch
	Error     string `json:"error,omitempty"`
}

// recordReader yields records from produce's input.
type recordReader interface {
	next() (inputRecord, error)
}

func runProduce(g *globals, cmd *cobra.Command, topic string, f *produceFlags) error {
	s, stop := newSession(g, cmd, false)
	defer stop()
	var rd recordReader
	switch g.format {
	case formatJSON:
		s.asJSON = true
		rd = newJSONReader(cmd.InOrStdin())
	default:
		spec := g.format
		if spec == formatText {
			spec = `%v\n`
		} else if !strings.Contains(spec, "%") {
			return fmt.Errorf("--format %q: want text, json or a template with %%v and friends", spec)
		}
		t, err := parseTemplate(spec)
		if err != nil {
			return err
		}
		if err := t.checkInput(); err != nil {
			return err
		}
		rd = newTemplateReader(t, cmd.InOrStdin())
	}
	acks, err := bench.ParseAcks(f.acks)
	if err != nil {
		return fmt.Errorf("--acks %q: want 0, 1 or all", f.acks)
	}
	codec, err := bench.CompressionCodec(f.compression)
	if err != nil {
		return fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", f.compression)
	}
	headers, err := parseKeyValues("--header", f.headers)
	if err != nil {
		return err
	}
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(acks.Kgo()),
		kgo.ProducerBatchCompression(codec),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(explicitPartitioner{kgo.StickyKeyPartitioner(nil)}),
	}
	if acks != bench.AcksAll {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := g.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Reach the cluster first: an unreachable one fails now with the dial
	// error, not record by record with a timeout.
	ctx, cancel := context.WithTimeout(s.ctx, g.timeout)
	_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}

	// Records are read on their own goroutine so that an interrupt ends a
	// produce blocked on a terminal's stdin.
	inputs := make(chan inputRecord, 64)
	readErr := make(chan error, 1)
	readCtx, stopReading := context.WithCancel(s.ctx)
	defer stopReading()
	go func() {
		defer close(inputs)
		for {
			in, err := rd.next()
			if err != nil {
				if err != io.EOF {
					readErr <- err
				}
				return
			}
			select {
			case inputs <- in:
			case <-readCtx.Done():
				return
			}
		}
	}()

	pr := newResultPrinter(s, acks == bench.AcksNone)
	var wg sync.WaitGroup
	seq := 0
loop:
	for {
		var in inputRecord
		var ok bool
		select {
		case in, ok = <-inputs:
		case <-s.ctx.Done():
			break loop
		}
		if !ok {
			break
		}
		r := in.rec
		r.Topic = topic
		if !in.hasKey && f.key != "" {
			r.Key = []byte(f.key)
		}
		for _, h := range headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
		}
		p := in.partition
		if p < 0 {
			p = f.partition
		}
		// Each record is bounded by its own context, not by
		// kgo.RecordDeliveryTimeout: kgo measures that from the record's
		// timestamp, which the input may set to any time.
		rctx, cancel := context.WithTimeout(s.ctx, g.timeout)
		if p >= 0 {
			r.Partition = p
			rctx = context.WithValue(rctx, explicitPartitionKey{}, true)
		}
		r.Context = rctx
		n := seq
		seq++
		wg.Add(1)
		cl.Produce(s.ctx, r, func(r *kgo.Record, err error) {
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("not acknowledged within --timeout %v: %w", g.timeout, err)
			}
			pr.done(n, r, err)
			wg.Done()
		})
	}
	wg.Wait()
	if err := pr.finish(); err != nil {
		return err
	}
	select {
	case err := <-readErr:
		return err
	default:
	}
	if pr.failed.n > 0 {
		return fmt.Errorf("%d of %d records failed; first: %w", pr.failed.n, pr.failed.total, pr.failed.first)
	}
	if s.ctx.Err() != nil {
		return fmt.Errorf("interrupted after %d records", seq)
	}
	return nil
}

// resultPrinter prints acknowledgements in input order: callbacks of
// different partitions complete in any order.
type resultPrinter struct {
	s            *session
	offsetsKnown bool // false with acks=0: nothing says where records went

	mu      sync.Mutex
	next    int
	pending map[int]produceResult
	failed  failures
	werr    error
}

func newResultPrinter(s *session, acks0 bool) *resultPrinter {
	return &resultPrinter{s: s, offsetsKnown: !acks0, pending: map[int]produceResult{}, failed: failures{what: "records"}}
}

func (p *resultPrinter) done(seq int, r *kgo.Record, err error) {
	res := produceResult{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	if err != nil {
		err = fmt.Errorf("record %d: %w", seq+1, err)
		res.Error = err.Error()
	}
	if err != nil || !p.offsetsKnown {
		res.Offset = -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed.add(err)
	p.pending[seq] = res
	for {
		res, ok := p.pending[p.next]
		if !ok {
			return
		}
		delete(p.pending, p.next)
		p.next++
		p.print(res)
	}
}

func (p *resultPrinter) print(r produceResult) {
	if p.werr != nil {
		return
	}
	var err error
	switch {
	case p.s.asJSON:
		err = writeJSONLine(p.s.out, r)
	case r.Error != "":
		_, err = fmt.Fprintln(p.s.errOut, r.Error)
	default:
		_, err = fmt.Fprintf(p.s.out, "Produced to partition %d at offset %d with timestamp %d.\n", r.Partition, r.Offset, r.Timestamp)
	}
	p.werr = err
}

func (p *resultPrinter) finish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) > 0 {
		return errors.New("produce: results missing (bug)")
	}
	return p.werr
}

// explicitPartitionKey marks, in a record's context, a record whose
// Partition field was chosen by the input or --partition.
type explicitPartitionKey struct{}

func isExplicit(r *kgo.Record) bool {
	return r.Context != nil && r.Context.Value(explicitPartitionKey{}) != nil
}

// explicitPartitioner sends marked records to their own partition and the
// others through the inner partitioner.
type explicitPartitioner struct{ inner kgo.Partitioner }

func (p explicitPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return &explicitTopicPartitioner{inner: p.inner.ForTopic(t)}
}

type explicitTopicPartitioner struct{ inner kgo.TopicPartitioner }

func (p *explicitTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return isExplicit(r) || p.inner.RequiresConsistency(r)
}

func (p *explicitTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if isExplicit(r) {
		return int(r.Partition)
	}
	return p.inner.Partition(r, n)
}

func (p *explicitTopicPartitioner) OnNewBatch() {
	if nb, ok := p.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
