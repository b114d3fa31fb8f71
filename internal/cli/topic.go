package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func topicCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter, trim and delete topics",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(topicCreateCmd(g), topicListCmd(g), topicDescribeCmd(g), topicDeleteCmd(g),
		topicAddPartitionsCmd(g), topicAlterConfigCmd(g), topicTrimCmd(g))
	return cmd
}

// topicID shows a topic id as Kafka's tools do (URL-safe base64, no
// padding); empty for the zero id (a broker without topic ids).
func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// topicResult is the JSON of create, delete and add-partitions, one per
// topic.
type topicResult struct {
	Topic             string `json:"topic"`
	ID                string `json:"id,omitempty"`
	Partitions        int32  `json:"partitions,omitempty"`         // create: partitions created
	ReplicationFactor int16  `json:"replication_factor,omitempty"` // create
	Added             int    `json:"added,omitempty"`              // add-partitions
	Error             string `json:"error,omitempty"`
}

func topicCreateCmd(g *globals) *cobra.Command {
	var (
		partitions int32
		rf         int16
		configs    []string
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME [NAME...]",
		Short: "Create topics",
		Long: `Create topics (CreateTopics). --partitions and --replication-factor default to
-1: the broker's num.partitions and default.replication.factor.`,
		Example: `  gregor topic create orders --partitions 6 --replication-factor 3 --config retention.ms=86400000`,
		Args:    cobra.MinimumNArgs(1),
		RunE: run(g, func(s *session, adm *kadm.Client, names []string) error {
			kvs, err := parseKeyValues("--config", configs)
			if err != nil {
				return err
			}
			cfg := make(map[string]*string, len(kvs))
			for _, kv := range kvs {
				cfg[kv[0]] = &kv[1]
			}
			create := adm.CreateTopics
			if dryRun {
				create = adm.ValidateCreateTopics
			}
			resp, err := create(s.ctx, partitions, rf, cfg, names...)
			if err != nil {
				return fmt.Errorf("create topics: %w", err)
			}
			results, failed := topicResults(names, resp, func(r kadm.CreateTopicResponse) error { return kafkaErr(r.Err, r.ErrMessage) },
				func(res *topicResult, r kadm.CreateTopicResponse) {
					res.ID, res.Partitions, res.ReplicationFactor = topicID(r.ID), r.NumPartitions, r.ReplicationFactor
				})
			if err := printTopicResults(s, results, true, dryRun); err != nil {
				return err
			}
			return failed
		}),
	}
	fl := cmd.Flags()
	fl.Int32VarP(&partitions, "partitions", "p", -1, "partitions per topic (-1: the broker's num.partitions)")
	fl.Int16VarP(&rf, "replication-factor", "r", -1, "replicas per partition (-1: the broker's default.replication.factor)")
	fl.StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
	fl.BoolVar(&dryRun, "dry-run", false, "validate only (CreateTopics validate_only)")
	return cmd
}

// topicResults makes one result per name from a per-topic response, with
// fill adding what a success says, and the error of the failed ones.
func topicResults[R any](names []string, resp map[string]R, errOf func(R) error, fill func(*topicResult, R)) ([]topicResult, error) {
	f := failures{what: "topics"}
	var results []topicResult
	for _, name := range names {
		res := topicResult{Topic: name}
		r, ok := resp[name]
		err := errMissing
		if ok {
			err = errOf(r)
		}
		if err == nil && fill != nil {
			fill(&res, r)
		}
		res.Error = errString(err)
		if err != nil {
			err = fmt.Errorf("topic %s: %w", name, err)
		}
		f.add(err)
		results = append(results, res)
	}
	return results, f.err()
}

func printTopicResults(s *session, results []topicResult, create, dryRun bool) error {
	if s.asJSON {
		return writeJSON(s.out, nonNil(results))
	}
	if create {
		t := newTable(s.out, "TOPIC", "ID", "PARTITIONS", "REPLICAS", "STATUS")
		for _, r := range results {
			status := "created"
			if dryRun {
				status = "OK (dry run)"
			}
			if r.Error != "" {
				status = r.Error
			}
			if r.Error != "" {
				t.row(r.Topic, "-", "-", "-", status)
				continue
			}
			t.row(r.Topic, orDash(r.ID), r.Partitions, r.ReplicationFactor, status)
		}
		return t.flush()
	}
	t := newTable(s.out, "TOPIC", "STATUS")
	for _, r := range results {
		t.row(r.Topic, orElse(r.Error, "OK"))
	}
	return t.flush()
}

// topicListEntry is the JSON of topic list, one per topic.
type topicListEntry struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal"`
	Error             string `json:"error,omitempty"`
}

func topicListCmd(g *globals) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics with their partition counts and replication factors",
		Args:    cobra.NoArgs,
		RunE: run(g, func(s *session, adm *kadm.Client, _ []string) error {
			list := adm.ListTopics
			if internal {
				list = adm.ListTopicsWithInternal
			}
			tds, err := list(s.ctx)
			if err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			var entries []topicListEntry
			f := failures{what: "topics"}
			for _, td := range tds.Sorted() {
				f.add(td.Err)
				entries = append(entries, topicListEntry{Name: td.Topic, ID: topicID(td.ID), Partitions: len(td.Partitions),
					ReplicationFactor: td.Partitions.NumReplicas(), Internal: td.IsInternal, Error: errString(td.Err)})
			}
			if s.asJSON {
				if err := writeJSON(s.out, nonNil(entries)); err != nil {
					return err
				}
				return f.err()
			}
			t := newTable(s.out, "NAME", "PARTITIONS", "REPLICAS")
			for _, e := range entries {
				if e.Error != "" {
					t.row(e.Name, "-", e.Error)
					continue
				}
				t.row(e.Name, e.Partitions, e.ReplicationFactor)
			}
			if err := t.flush(); err != nil {
				return err
			}
			return f.err()
		}),
	}
	cmd.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics (__consumer_offsets ...)")
	return cmd
}

// topicDescription is the JSON of topic describe, one per topic.
type topicDescription struct {
	Name              string                 `json:"name"`
	ID                string                 `json:"id,omitempty"`
	Internal          bool                   `json:"internal"`
	ReplicationFactor int                    `json:"replication_factor"`
	Partitions        []partitionDescription `json:"partitions"`
	Configs           []configEntry          `json:"configs"`
	Error             string                 `json:"error,omitempty"`
}

type partitionDescription struct {
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"` // -1: none
	LeaderEpoch     int32   `json:"leader_epoch"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	LogStartOffset  int64   `json:"log_start_offset"` // -1: not known (see error)
	HighWatermark   int64   `json:"high_watermark"`   // -1: not known (see error)
	Error           string  `json:"error,omitempty"`
}

func topicDescribeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "describe NAME [NAME...]",
		Aliases: []string{"info"},
		Short:   "Describe topics: partitions (leader, replicas, ISR, offline, offsets) and configs",
		Long: `Describe topics: a summary, every topic config with its source
(DescribeConfigs), and per partition the leader, leader epoch, replicas, ISR,
offline replicas, log start offset and high watermark (ListOffsets).`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeTopics(g),
		RunE: run(g, func(s *session, adm *kadm.Client, names []string) error {
			descs, err := describeTopics(s.ctx, adm, names)
			if err != nil {
				return err
			}
			f := failures{what: "topics"}
			for _, d := range descs {
				if d.Error != "" {
					f.add(fmt.Errorf("%s: %s", d.Name, d.Error))
				} else {
					f.add(nil)
				}
			}
			if s.asJSON {
				err = writeJSON(s.out, descs)
			} else {
				err = printTopicDescriptions(s.out, descs)
			}
			if err != nil {
				return err
			}
			return f.err()
		}),
	}
	return cmd
}

func describeTopics(ctx context.Context, adm *kadm.Client, names []string) ([]topicDescription, error) {
	tds, err := adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var known []string
	for _, n := range names {
		if td, ok := tds[n]; ok && td.Err == nil {
			known = append(known, n)
		}
	}
	var (
		starts, ends kadm.ListedOffsets
		configs      kadm.ResourceConfigs
	)
	if len(known) > 0 {
		if starts, err = adm.ListStartOffsets(ctx, known...); err != nil {
			return nil, fmt.Errorf("list start offsets: %w", err)
		}
		if ends, err = adm.ListEndOffsets(ctx, known...); err != nil {
			return nil, fmt.Errorf("list end offsets: %w", err)
		}
		if configs, err = adm.DescribeTopicConfigs(ctx, known...); err != nil {
			return nil, fmt.Errorf("describe configs: %w", err)
		}
	}
	var out []topicDescription
	for _, n := range names {
		td, ok := tds[n]
		if !ok {
			out = append(out, topicDescription{Name: n, Partitions: []partitionDescription{}, Configs: []configEntry{}, Error: "missing from the metadata response"})
			continue
		}
		d := topicDescription{Name: n, ID: topicID(td.ID), Internal: td.IsInternal, ReplicationFactor: td.Partitions.NumReplicas(),
			Partitions: []partitionDescription{}, Configs: []configEntry{}, Error: errString(td.Err)}
		if td.Err == nil {
			for _, p := range td.Partitions.Sorted() {
				pd := partitionDescription{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
					Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), OfflineReplicas: nonNil(p.OfflineReplicas)}
				start, err1 := lookupOffset(starts, n, p.Partition)
				end, err2 := lookupOffset(ends, n, p.Partition)
				pd.LogStartOffset, pd.HighWatermark = start, end
				if err1 != nil {
					pd.LogStartOffset = -1
				}
				if err2 != nil {
					pd.HighWatermark = -1
				}
				pd.Error = errString(firstErr(p.Err, err1, err2))
				d.Partitions = append(d.Partitions, pd)
			}
			rc, err := configs.On(n, nil)
			if err == nil {
				err = kafkaErr(rc.Err, rc.ErrMessage)
			}
			if err != nil {
				d.Error = "configs: " + err.Error()
			} else {
				d.Configs = configEntries(rc.Configs)
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func printTopicDescriptions(w io.Writer, descs []topicDescription) error {
	for i, d := range descs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		section(w, "SUMMARY")
		t := newTable(w)
		t.row("NAME", d.Name)
		if d.ID != "" {
			t.row("ID", d.ID)
		}
		if d.Error != "" {
			t.row("ERROR", d.Error)
			if err := t.flush(); err != nil {
				return err
			}
			if len(d.Partitions) == 0 {
				continue
			}
		}
		t.row("INTERNAL", d.Internal)
		t.row("PARTITIONS", len(d.Partitions))
		t.row("REPLICAS", d.ReplicationFactor)
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		section(w, "CONFIGS")
		if err := printConfigTable(w, d.Configs); err != nil {
			return err
		}
		fmt.Fprintln(w)
		section(w, "PARTITIONS")
		t = newTable(w, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "LOG-START", "HIGH-WATERMARK", "ERROR")
		for _, p := range d.Partitions {
			t.row(p.Partition, p.Leader, p.LeaderEpoch, int32List(p.Replicas), int32List(p.ISR), int32List(p.OfflineReplicas),
				p.LogStartOffset, p.HighWatermark, orDash(p.Error))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

// section prints an rpk-style section title.
func section(w io.Writer, title string) {
	fmt.Fprintf(w, "%s\n", title)
	for range title {
		fmt.Fprint(w, "=")
	}
	fmt.Fprintln(w)
}

func topicDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "delete NAME [NAME...]",
		Aliases:           []string{"rm"},
		Short:             "Delete topics",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeTopics(g),
		RunE: run(g, func(s *session, adm *kadm.Client, names []string) error {
			resp, err := adm.DeleteTopics(s.ctx, names...)
			if err != nil {
				return fmt.Errorf("delete topics: %w", err)
			}
			results, failed := topicResults(names, resp, func(r kadm.DeleteTopicResponse) error { return kafkaErr(r.Err, r.ErrMessage) }, nil)
			if err := printTopicResults(s, results, false, false); err != nil {
				return err
			}
			return failed
		}),
	}
}

func topicAddPartitionsCmd(g *globals) *cobra.Command {
	var num int
	cmd := &cobra.Command{
		Use:               "add-partitions NAME [NAME...] --num N",
		Short:             "Add N partitions to each topic",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeTopics(g),
		RunE: run(g, func(s *session, adm *kadm.Client, names []string) error {
			if num <= 0 {
				return fmt.Errorf("--num %d: want > 0", num)
			}
			resp, err := adm.CreatePartitions(s.ctx, num, names...)
			if err != nil {
				return fmt.Errorf("create partitions: %w", err)
			}
			results, failed := topicResults(names, resp, func(r kadm.CreatePartitionsResponse) error { return kafkaErr(r.Err, r.ErrMessage) },
				func(res *topicResult, _ kadm.CreatePartitionsResponse) { res.Added = num })
			if err := printTopicResults(s, results, false, false); err != nil {
				return err
			}
			return failed
		}),
	}
	cmd.Flags().IntVarP(&num, "num", "n", 0, "partitions to add (required)")
	cmd.MarkFlagRequired("num")
	return cmd
}

func topicAlterConfigCmd(g *globals) *cobra.Command {
	var a alterFlags
	cmd := &cobra.Command{
		Use:               "alter-config NAME [NAME...] [--set k=v]... [--delete k]...",
		Short:             "Change topic configs (IncrementalAlterConfigs)",
		Example:           `  gregor topic alter-config orders --set retention.ms=3600000 --delete cleanup.policy`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeTopics(g),
		RunE: run(g, func(s *session, adm *kadm.Client, names []string) error {
			ops, err := a.ops(nil)
			if err != nil {
				return err
			}
			return alterConfigs(s, adm, resourceTopic, names, ops, a.dryRun)
		}),
	}
	a.register(cmd, true)
	return cmd
}

// trimResult is the JSON of topic trim, one per partition.
type trimResult struct {
	Topic        string `json:"topic"`
	Partition    int32  `json:"partition"`
	Offset       int64  `json:"offset"`        // records before it were asked to be deleted
	LowWatermark int64  `json:"low_watermark"` // the new log start offset; -1 on error
	Error        string `json:"error,omitempty"`
}

func topicTrimCmd(g *globals) *cobra.Command {
	var (
		partitions []int32
		offset     string
	)
	cmd := &cobra.Command{
		Use:   "trim NAME --partition P[,P...] --offset O",
		Short: "Delete the records before an offset (DeleteRecords)",
		Long: `Delete the records of the given partitions before an offset (DeleteRecords):
the log start offset moves there. --offset is an offset (the broker refuses one
past the high watermark), end (everything), or -N, +N, @TIME as for consume.`,
		Example:           `  gregor topic trim orders --partition 0,1 --offset 1000`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTopics(g),
		RunE: run(g, func(s *session, adm *kadm.Client, args []string) error {
			topic := args[0]
			spec, err := parseOffset(offset, time.Now())
			if err != nil {
				return fmt.Errorf("--offset: %w", err)
			}
			set := kadm.TopicsSet{}
			set.Add(topic, partitions...)
			targets := partitionOffsets{}
			if spec.kind == offsetExact {
				for _, p := range partitions {
					targets.set(topic, p, resolvedOffset{offset: spec.n})
				}
			} else if targets, err = resolveOffsets(s.ctx, adm, spec, set); err != nil {
				return err
			}
			req := kadm.Offsets{}
			for p, r := range targets[topic] {
				if r.err == nil {
					req.Add(kadm.Offset{Topic: topic, Partition: p, At: r.offset, LeaderEpoch: -1})
				}
			}
			var resp kadm.DeleteRecordsResponses
			if len(req) > 0 {
				if resp, err = adm.DeleteRecords(s.ctx, req); err != nil {
					return fmt.Errorf("delete records: %w", err)
				}
			}
			f := failures{what: "partitions"}
			var results []trimResult
			ps := slices.Clone(partitions)
			slices.Sort(ps)
			for _, p := range slices.Compact(ps) {
				r := targets[topic][p]
				res := trimResult{Topic: topic, Partition: p, Offset: r.offset, LowWatermark: -1}
				err := r.err
				if err == nil {
					dr, ok := resp.Lookup(topic, p)
					switch {
					case !ok:
						err = errMissing
					case dr.Err != nil:
						err = dr.Err
					default:
						res.LowWatermark = dr.LowWatermark
					}
				}
				res.Error = errString(err)
				if err != nil {
					err = fmt.Errorf("%s/%d: %w", topic, p, err)
				}
				f.add(err)
				results = append(results, res)
			}
			if s.asJSON {
				if err := writeJSON(s.out, nonNil(results)); err != nil {
					return err
				}
			} else {
				t := newTable(s.out, "TOPIC", "PARTITION", "OFFSET", "LOG-START", "ERROR")
				for _, r := range results {
					t.row(r.Topic, r.Partition, r.Offset, r.LowWatermark, orDash(r.Error))
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			return f.err()
		}),
	}
	fl := cmd.Flags()
	fl.Int32SliceVarP(&partitions, "partition", "p", nil, "partitions to trim, comma separated or repeated (required)")
	fl.StringVarP(&offset, "offset", "o", "", "delete the records before this offset: N, end, -N, +N, @TIME (required)")
	cmd.MarkFlagRequired("partition")
	cmd.MarkFlagRequired("offset")
	return cmd
}

// itoa32 is strconv.Itoa for node ids.
func itoa32(i int32) string { return strconv.Itoa(int(i)) }
