package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const consumeLong = `Consume records of TOPIC and print them on stdout, until -n records or an
interrupt (SIGINT, SIGTERM).

Without --group every partition (or those of --partitions) is read from
--offset, no offsets are committed:
  start (default), end          log start, high watermark
  N                             offset N
  -N, +N                        N before the end, N after the start
  @TIME                         the first record at or after TIME: ms since the
                                epoch, RFC 3339 (@2024-05-01T10:00:00Z), or
                                -DURATION before now (@-1h)
With --group G the group's consumers share the partitions, each starts at the
group's committed offset (--offset only where there is none: start, end, -N,
+N or @TIME), and the offsets of the records printed are committed.

--format says how records are printed:
  text (default)  the value, one per line (the template '%v\n')
  json            one JSON object per line: {"topic","partition","offset",
                  "timestamp" (ms),"key","value","headers":[{"key","value"}],
                  "leader_epoch"}; key and value are null when null, base64
                  with "key_encoding"/"value_encoding": "base64" when not UTF-8
  a template      %t topic, %p partition, %o offset, %k key, %v value,
                  %h headers (k=v,k=v), %T timestamp (ms), %% percent;
                  escapes \n \t \r \\
--print-headers prefixes each text record with its headers and a tab.`

type consumeFlags struct {
	group        string
	partitions   []int32
	offset       string
	num          int
	printHeaders bool
}

func consumeCmd(g *globals) *cobra.Command {
	var f consumeFlags
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Consume records and print them",
		Long:  consumeLong,
		Example: `  gregor consume orders -n 10
  gregor consume orders --offset -5 --format '%p/%o %k=%v\n'
  gregor consume orders --group billing --format json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTopics(g),
		Annotations:       map[string]string{formatUsageKey: "records: text (a value per line), json (JSON lines), or a template (see above)"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(g, cmd, args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.group, "group", "g", "", "consume as a member of this consumer group, committing offsets")
	fl.Int32SliceVarP(&f.partitions, "partitions", "p", nil, "partitions to read, comma separated (default all; not with --group)")
	fl.StringVarP(&f.offset, "offset", "o", "start", "where to start: start, end, N, -N, +N, @TIME")
	fl.IntVarP(&f.num, "num", "n", 0, "exit after this many records (0: until interrupted)")
	fl.BoolVar(&f.printHeaders, "print-headers", false, "print each record's headers (k=v,k=v) and a tab before it (text formats)")
	return cmd
}

// recordPrinter formats consumed records.
type recordPrinter struct {
	json bool
	t    template
	buf  []byte
}

func newRecordPrinter(format string, printHeaders bool) (*recordPrinter, error) {
	switch {
	case format == formatJSON:
		return &recordPrinter{json: true}, nil
	case format == formatText:
		format = `%v\n`
	case !strings.Contains(format, "%"):
		return nil, fmt.Errorf("--format %q: want text, json or a template with %%v and friends", format)
	}
	if printHeaders {
		format = `%h\t` + format
	}
	t, err := parseTemplate(format)
	if err != nil {
		return nil, err
	}
	return &recordPrinter{t: t}, nil
}

func (p *recordPrinter) write(w *bufio.Writer, r *kgo.Record) error {
	if p.json {
		return writeJSONLine(w, toJSONRecord(r))
	}
	p.buf = p.t.appendRecord(p.buf[:0], r)
	_, err := w.Write(p.buf)
	return err
}

func runConsume(g *globals, cmd *cobra.Command, topic string, f *consumeFlags) error {
	s, stop := newSession(g, cmd, false)
	defer stop()
	printer, err := newRecordPrinter(g.format, f.printHeaders)
	if err != nil {
		return err
	}
	if f.num < 0 {
		return fmt.Errorf("-n %d: want >= 0", f.num)
	}
	spec, err := parseOffset(f.offset, time.Now())
	if err != nil {
		return fmt.Errorf("--offset: %w", err)
	}
	if f.group != "" {
		if len(f.partitions) > 0 {
			return errors.New("--partitions and --group: a group's partitions are assigned by the group")
		}
		if spec.kind == offsetExact {
			return fmt.Errorf("--offset %s with --group: a group starts at its committed offsets; use start, end, -N, +N or @TIME for partitions without one, or gregor group seek", f.offset)
		}
	}

	var opts []kgo.Opt
	switch {
	case f.group != "":
		opts = append(opts, kgo.ConsumerGroup(f.group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(spec.kgo()), kgo.AutoCommitMarks())
	case len(f.partitions) > 0:
		offsets := map[int32]kgo.Offset{}
		for _, p := range f.partitions {
			offsets[p] = spec.kgo()
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	default:
		opts = append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(spec.kgo()))
	}
	cl, err := g.client(opts...)
	if err != nil {
		return err
	}
	// Close leaves the group; it runs after the final commit below.
	defer cl.Close()
	if err := checkConsumable(s, kadm.NewClient(cl), topic, f.partitions); err != nil {
		return err
	}

	out := bufio.NewWriterSize(s.out, 64<<10)
	prog := newProgress(s, "consumed", "records", int64(f.num), true)
	count := 0
	var runErr error
	for f.num == 0 || count < f.num {
		max := -1
		if f.num > 0 {
			max = f.num - count
		}
		fs := cl.PollRecords(s.ctx, max)
		if s.ctx.Err() != nil {
			break // interrupted: what was printed stays printed
		}
		fs.EachError(func(t string, p int32, err error) {
			if runErr == nil && !errors.Is(err, context.Canceled) {
				runErr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		var werr error
		fs.EachRecord(func(r *kgo.Record) {
			if werr != nil {
				return
			}
			if werr = printer.write(out, r); werr == nil {
				count++
				if f.group != "" {
					cl.MarkCommitRecords(r)
				}
			}
		})
		if werr == nil {
			werr = out.Flush()
		}
		if werr != nil {
			runErr = werr
		}
		prog.update(int64(count))
		if runErr != nil {
			break
		}
	}
	prog.finish()
	if err := out.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	if f.group != "" {
		ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
		defer cancel()
		if err := cl.CommitMarkedOffsets(ctx); err != nil && runErr == nil {
			runErr = fmt.Errorf("commit offsets of group %s: %w", f.group, err)
		}
	}
	return runErr
}

// checkConsumable fails early, with the Kafka error, for a topic or a
// partition the cluster does not have: the consumer would wait for it
// forever.
func checkConsumable(s *session, adm *kadm.Client, topic string, partitions []int32) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	tds, err := adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return fmt.Errorf("metadata of %s: %w", topic, err)
	}
	td, ok := tds[topic]
	if !ok {
		return fmt.Errorf("metadata of %s: topic missing from the response", topic)
	}
	if td.Err != nil {
		return fmt.Errorf("topic %s: %w", topic, td.Err)
	}
	for _, p := range partitions {
		if _, ok := td.Partitions[p]; !ok {
			have := td.Partitions.Numbers()
			slices.Sort(have)
			return fmt.Errorf("topic %s has no partition %d (partitions: %s)", topic, p, int32List(have))
		}
	}
	return nil
}
