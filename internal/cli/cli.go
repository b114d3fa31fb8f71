// Package cli is the Kafka admin and client tool behind `gregor topic`,
// `produce`, `consume`, `group`, `cluster`, `config` and `verify`: an rpk-style CLI
// built on franz-go (kgo, kadm, kmsg) that works against any Kafka broker.
//
// Invariants:
//   - Every command talks the Kafka protocol only; nothing here knows
//     Gregor's internals, so the same commands serve Apache Kafka or
//     Redpanda.
//   - Every command writes its result to the command's stdout (tables, or
//     JSON with --format json) and diagnostics to its stderr; a progress
//     line is drawn on stderr only when stderr is a terminal (verify,
//     which runs for a set time, prints one every second, --quiet aside).
//   - Any failure, including one item of many (a topic of several, a record
//     of a produced stream), ends the command with a non-nil error whose
//     message carries the Kafka error name (kerr), after whatever output
//     the rest of the command had.
//   - Admin requests are bounded by --timeout; consume runs until its
//     record count or an interrupt.
//
// JSON: admin commands print one indented JSON document; produce and
// consume print JSON lines (one compact object per record). The field
// names are the json tags of the types in this package and are stable;
// see README.md, "The CLI".
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBrokers is the environment variable that replaces the default of
// --brokers.
const EnvBrokers = "GREGOR_BROKERS"

const defaultBrokers = "localhost:9092"

// formatUsageKey is the annotation of a top-level command whose --format
// says more than text or json (produce and consume: record templates).
const formatUsageKey = "gregor-format-usage"

// Output formats every command accepts.
const (
	formatText = "text"
	formatJSON = "json"
)

// AddCommands adds the client commands (topic, produce, consume, group,
// cluster, config, verify) to root. Each carries the global flags --brokers,
// --format and --timeout.
func AddCommands(root *cobra.Command) {
	for _, build := range []func(*globals) *cobra.Command{topicCmd, produceCmd, consumeCmd, groupCmd, clusterCmd, configCmd, verifyCmd} {
		g := &globals{}
		c := build(g)
		g.register(c)
		root.AddCommand(c)
	}
}

// globals are the flags every client command has: persistent flags of each
// top-level command, read by its subcommands (and their shell completion
// functions) through the closures that hold the value.
type globals struct {
	brokers []string
	format  string
	timeout time.Duration
}

func (g *globals) register(c *cobra.Command) {
	def := []string{defaultBrokers}
	if env := strings.TrimSpace(os.Getenv(EnvBrokers)); env != "" {
		def = splitList(env)
	}
	fl := c.PersistentFlags()
	fl.StringSliceVarP(&g.brokers, "brokers", "b", def, "seed brokers HOST:PORT, comma separated (env "+EnvBrokers+")")
	usage := "output: text (tables) or json"
	if u, ok := c.Annotations[formatUsageKey]; ok {
		usage = u
	}
	fl.StringVar(&g.format, "format", formatText, usage)
	fl.DurationVar(&g.timeout, "timeout", 15*time.Second, "bound on each admin operation and on each produced record's delivery")
}

// client returns a franz-go client for the seed brokers with extra options.
func (g *globals) client(opts ...kgo.Opt) (*kgo.Client, error) {
	if len(g.brokers) == 0 {
		return nil, errors.New("no brokers: set --brokers or " + EnvBrokers)
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(g.brokers...),
		kgo.ClientID("gregor-cli"),
		kgo.DialTimeout(min(g.timeout, 10*time.Second)),
		kgo.RetryTimeout(g.timeout),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cl, nil
}

// admin returns an admin client and the kgo client under it (for requests
// kadm has no function for); closing either closes both.
func (g *globals) admin(opts ...kgo.Opt) (*kadm.Client, *kgo.Client, error) {
	cl, err := g.client(opts...)
	if err != nil {
		return nil, nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(g.timeout, time.Hour).Milliseconds()))
	return adm, cl, nil
}

// session is what a command's run function gets: the globals, the
// command's stdout and stderr, and a context ended by --timeout (for admin
// commands) or an interrupt.
type session struct {
	*globals
	cl     *kgo.Client // set by run
	ctx    context.Context
	out    io.Writer
	errOut io.Writer
	asJSON bool
}

// run wraps an admin command's body: it resolves --format, bounds the
// context by --timeout and by SIGINT/SIGTERM, and opens the admin client.
func run(g *globals, fn func(s *session, adm *kadm.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, stop := newSession(g, cmd, true)
		defer stop()
		if err := s.jsonOrText(); err != nil {
			return err
		}
		adm, cl, err := s.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		s.cl = cl
		return fn(s, adm, args)
	}
}

// newSession resolves the globals of cmd; bounded adds --timeout to the
// context. stop releases the signal handler and the timer.
func newSession(g *globals, cmd *cobra.Command, bounded bool) (*session, func()) {
	s := &session{globals: g, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()}
	ctx, stopSignals := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	stop := stopSignals
	if bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		stop = func() { cancel(); stopSignals() }
	}
	s.ctx = ctx
	return s, stop
}

// jsonOrText resolves --format for the commands that print text or JSON
// (produce and consume also take templates).
func (s *session) jsonOrText() error {
	switch s.format {
	case formatText:
		s.asJSON = false
	case formatJSON:
		s.asJSON = true
	default:
		return fmt.Errorf("--format %q: want text or json", s.format)
	}
	return nil
}

// writeJSON prints v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table is a text table with aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(toAny(header)...)
	}
	return t
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprint(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// kafkaErr joins an error code's error with the broker's message, if any:
// "TOPIC_ALREADY_EXISTS: Topic with this name already exists. (t exists)".
func kafkaErr(err error, msg string) error {
	if err == nil {
		return nil
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w (%s)", err, msg)
	}
	return err
}

// errString is err's message, empty for nil: the "error" field of JSON
// results.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errorWord is what a text table shows in its error column.
func errorWord(err error) string {
	if err == nil {
		return "-"
	}
	return err.Error()
}

// failures builds the error of a command that did several things of which
// some failed: "2 of 5 topics failed: first error".
type failures struct {
	what  string // plural noun: "topics"
	total int
	n     int
	first error
}

func (f *failures) add(err error) {
	f.total++
	if err != nil {
		f.n++
		if f.first == nil {
			f.first = err
		}
	}
}

func (f *failures) err() error {
	if f.n == 0 {
		return nil
	}
	if f.total == 1 {
		return f.first
	}
	return fmt.Errorf("%d of %d %s failed; first: %w", f.n, f.total, f.what, f.first)
}

// splitList splits a comma separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseKeyValues reads key=value pairs (flag values), in order; a key
// given twice is an error.
func parseKeyValues(flag string, kvs []string) ([][2]string, error) {
	out := make([][2]string, 0, len(kvs))
	seen := map[string]bool{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, kv)
		}
		if seen[k] {
			return nil, fmt.Errorf("%s: key %q given twice", flag, k)
		}
		seen[k] = true
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// errMissing is an item a response should have named and did not.
var errMissing = errors.New("missing from the response")

// int32List shows ids as "1,2,3" ("-" when empty).
func int32List(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, id)
	}
	return b.String()
}

// orDash shows an empty string as "-".
func orDash(s string) string { return orElse(s, "-") }

// orElse is s, or def when s is empty.
func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// nonNil returns s, or an empty slice for nil, so JSON shows [] not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
