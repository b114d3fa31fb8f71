package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func groupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "group",
		Aliases: []string{"groups"},
		Short:   "List, describe, seek and delete consumer groups",
		Args:    cobra.NoArgs,
	}
	cmd.AddCommand(groupListCmd(g), groupDescribeCmd(g), groupSeekCmd(g), groupDeleteCmd(g), groupOffsetDeleteCmd(g))
	return cmd
}

// groupListEntry is the JSON of group list, one per group.
type groupListEntry struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func groupListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Args:    cobra.NoArgs,
		RunE: run(g, func(s *session, adm *kadm.Client, _ []string) error {
			gs, err := adm.ListGroups(s.ctx)
			if err != nil {
				return fmt.Errorf("list groups: %w", err)
			}
			var entries []groupListEntry
			for _, lg := range gs.Sorted() {
				entries = append(entries, groupListEntry{Group: lg.Group, State: lg.State, ProtocolType: lg.ProtocolType, Coordinator: lg.Coordinator})
			}
			if s.asJSON {
				return writeJSON(s.out, nonNil(entries))
			}
			t := newTable(s.out, "GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
			for _, e := range entries {
				t.row(e.Group, orDash(e.State), orDash(e.ProtocolType), e.Coordinator)
			}
			return t.flush()
		}),
	}
}

// groupDescription is the JSON of group describe, one per group.
type groupDescription struct {
	Group        string          `json:"group"`
	Coordinator  brokerEntry     `json:"coordinator"`
	State        string          `json:"state"`
	ProtocolType string          `json:"protocol_type"`
	Protocol     string          `json:"protocol"` // the assignor
	Members      []groupMember   `json:"members"`
	Offsets      []groupOffset   `json:"offsets"`
	TotalLag     int64           `json:"total_lag"`
	TopicLag     []groupTopicLag `json:"topic_lag"`
	Error        string          `json:"error,omitempty"`
}

type groupMember struct {
	MemberID    string             `json:"member_id"`
	InstanceID  *string            `json:"instance_id"`
	ClientID    string             `json:"client_id"`
	ClientHost  string             `json:"client_host"`
	Assignments []topicPartitionsJ `json:"assignments"`
}

type topicPartitionsJ struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// groupOffset is a partition the group has committed to or is assigned.
type groupOffset struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	CommittedOffset int64  `json:"committed_offset"` // -1: none
	LogStartOffset  int64  `json:"log_start_offset"`
	LogEndOffset    int64  `json:"log_end_offset"`
	Lag             int64  `json:"lag"` // -1: unknown (see error)
	MemberID        string `json:"member_id,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
	ClientHost      string `json:"client_host,omitempty"`
	Error           string `json:"error,omitempty"`
}

type groupTopicLag struct {
	Topic string `json:"topic"`
	Lag   int64  `json:"lag"`
}

func groupDescribeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP [GROUP...]",
		Short: "Describe groups: members, assignments, committed offsets and lag",
		Long: `Describe consumer groups: state, assignor, members (client ids, hosts,
assignments) and, per partition the group committed to or is assigned, the
committed offset, the log start and end offsets and the lag (end offset minus
committed offset; without a commit, end minus log start), with the total lag.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeGroups(g),
		RunE: run(g, func(s *session, adm *kadm.Client, groups []string) error {
			lags, err := adm.Lag(s.ctx, groups...)
			if err != nil {
				return fmt.Errorf("describe groups: %w", err)
			}
			f := failures{what: "groups"}
			var descs []groupDescription
			for _, name := range groups {
				l, ok := lags[name]
				if !ok {
					err := fmt.Errorf("group %s: %w", name, errMissing)
					f.add(err)
					descs = append(descs, groupDescription{Group: name, Members: []groupMember{}, Offsets: []groupOffset{}, TopicLag: []groupTopicLag{}, Error: err.Error()})
					continue
				}
				d := describeGroupLag(l)
				var err error
				switch {
				case errors.Is(l.DescribeErr, kerr.GroupIDNotFound):
					// DescribeGroups v6+ (KIP-1043); older versions say Dead.
					err = fmt.Errorf("group %s does not exist: %w", name, l.DescribeErr)
				case d.Error != "":
					err = fmt.Errorf("group %s: %s", name, d.Error)
				case d.State == "Dead" && len(d.Offsets) == 0:
					err = fmt.Errorf("group %s does not exist (state Dead, no committed offsets): %w", name, kerr.GroupIDNotFound)
				}
				f.add(err)
				descs = append(descs, d)
			}
			if s.asJSON {
				err = writeJSON(s.out, descs)
			} else {
				err = printGroupDescriptions(s.out, descs)
			}
			if err != nil {
				return err
			}
			return f.err()
		}),
	}
}

func describeGroupLag(l kadm.DescribedGroupLag) groupDescription {
	d := groupDescription{
		Group:        l.Group,
		Coordinator:  brokerEntry{NodeID: l.Coordinator.NodeID, Host: l.Coordinator.Host, Port: l.Coordinator.Port, Rack: l.Coordinator.Rack},
		State:        l.State,
		ProtocolType: l.ProtocolType,
		Protocol:     l.Protocol,
		Members:      []groupMember{},
		Offsets:      []groupOffset{},
		TopicLag:     []groupTopicLag{},
		Error:        errString(l.Error()),
	}
	for _, m := range l.Members {
		gm := groupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			Assignments: []topicPartitionsJ{}}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				ps := slices.Clone(t.Partitions)
				slices.Sort(ps)
				gm.Assignments = append(gm.Assignments, topicPartitionsJ{Topic: t.Topic, Partitions: nonNil(ps)})
			}
			slices.SortFunc(gm.Assignments, func(a, b topicPartitionsJ) int { return strings.Compare(a.Topic, b.Topic) })
		}
		d.Members = append(d.Members, gm)
	}
	for _, ml := range l.Lag.Sorted() {
		o := groupOffset{Topic: ml.Topic, Partition: ml.Partition, CommittedOffset: ml.Commit.At,
			LogStartOffset: ml.Start.Offset, LogEndOffset: ml.End.Offset, Lag: ml.Lag, Error: errString(ml.Err)}
		if ml.Start.Err != nil {
			o.LogStartOffset = -1
		}
		if ml.End.Err != nil {
			o.LogEndOffset = -1
		}
		if ml.Member != nil {
			o.MemberID, o.ClientID, o.ClientHost = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
		}
		d.Offsets = append(d.Offsets, o)
	}
	for _, tl := range l.Lag.TotalByTopic().Sorted() {
		d.TopicLag = append(d.TopicLag, groupTopicLag{Topic: tl.Topic, Lag: tl.Lag})
		d.TotalLag += tl.Lag
	}
	return d
}

func printGroupDescriptions(w io.Writer, descs []groupDescription) error {
	for i, d := range descs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		t := newTable(w)
		t.row("GROUP", d.Group)
		t.row("COORDINATOR", fmt.Sprintf("%d (%s)", d.Coordinator.NodeID, d.Coordinator.address()))
		t.row("STATE", orDash(d.State))
		t.row("PROTOCOL-TYPE", orDash(d.ProtocolType))
		t.row("ASSIGNOR", orDash(d.Protocol))
		t.row("MEMBERS", len(d.Members))
		t.row("TOTAL-LAG", d.TotalLag)
		if d.Error != "" {
			t.row("ERROR", d.Error)
		}
		if err := t.flush(); err != nil {
			return err
		}
		if len(d.Members) > 0 {
			fmt.Fprintln(w)
			t = newTable(w, "MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNMENTS")
			for _, m := range d.Members {
				var as []string
				for _, a := range m.Assignments {
					as = append(as, fmt.Sprintf("%s[%s]", a.Topic, int32List(a.Partitions)))
				}
				inst := "-"
				if m.InstanceID != nil {
					inst = *m.InstanceID
				}
				t.row(m.MemberID, inst, orDash(m.ClientID), orDash(m.ClientHost), orDash(strings.Join(as, " ")))
			}
			if err := t.flush(); err != nil {
				return err
			}
		}
		if len(d.Offsets) > 0 {
			fmt.Fprintln(w)
			t = newTable(w, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-START-OFFSET", "LOG-END-OFFSET", "LAG", "MEMBER-ID", "CLIENT-ID", "HOST", "ERROR")
			for _, o := range d.Offsets {
				committed := "-"
				if o.CommittedOffset >= 0 {
					committed = fmt.Sprint(o.CommittedOffset)
				}
				t.row(o.Topic, o.Partition, committed, o.LogStartOffset, o.LogEndOffset, o.Lag,
					orDash(o.MemberID), orDash(o.ClientID), orDash(o.ClientHost), orDash(o.Error))
			}
			if err := t.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// seekResult is the JSON of group seek, one per partition.
type seekResult struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	PriorOffset int64  `json:"prior_offset"` // -1: none
	NewOffset   int64  `json:"new_offset"`   // -1: not resolved (see error)
	Error       string `json:"error,omitempty"`
}

// seekChunk is how many partitions go in one OffsetCommit: the progress
// line advances by chunks.
const seekChunk = 500

func groupSeekCmd(g *globals) *cobra.Command {
	var (
		to     string
		topics []string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "seek GROUP --to start|end|OFFSET|@TIME [--topics T,...]",
		Short: "Move a group's committed offsets (the group must be empty)",
		Long: `Move the committed offsets of an empty group (no active members), as
kafka-consumer-groups.sh --reset-offsets does: to the log start, the end, an
offset, -N before the end or +N after the start (kept within [log start,
end]), or the first record at or after a time (@ms since the epoch, @RFC3339
or @-DURATION; the end when there is none).
Without --topics, the partitions the group has committed offsets for are
moved; --topics moves every partition of the topics given.`,
		Example: `  gregor group seek billing --to start
  gregor group seek billing --to @-1h --topics orders`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeGroups(g),
		RunE: run(g, func(s *session, adm *kadm.Client, args []string) error {
			group := args[0]
			spec, err := parseOffset(to, time.Now())
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if err := requireEmptyGroup(s, adm, group); err != nil {
				return err
			}
			committed, err := adm.FetchOffsets(s.ctx, group)
			if err != nil {
				return fmt.Errorf("fetch offsets of %s: %w", group, err)
			}
			set := kadm.TopicsSet{}
			if len(topics) > 0 {
				tds, err := adm.ListTopics(s.ctx, topics...)
				if err != nil {
					return fmt.Errorf("metadata: %w", err)
				}
				for _, t := range topics {
					td := tds[t]
					if td.Err != nil {
						return fmt.Errorf("topic %s: %w", t, td.Err)
					}
					set.Add(t, td.Partitions.Numbers()...)
				}
			} else {
				committed.Each(func(o kadm.OffsetResponse) {
					if o.Err == nil && o.At >= 0 {
						set.Add(o.Topic, o.Partition)
					}
				})
				if len(set) == 0 {
					return fmt.Errorf("group %s has no committed offsets: name the topics to seek with --topics", group)
				}
			}
			targets, err := resolveOffsets(s.ctx, adm, spec, set)
			if err != nil {
				return err
			}
			var results []seekResult
			commit := kadm.Offsets{}
			for _, tp := range set.Sorted() {
				for _, p := range tp.Partitions {
					r := targets[tp.Topic][p]
					prior := int64(-1)
					if o, ok := committed.Lookup(tp.Topic, p); ok && o.Err == nil {
						prior = o.At
					}
					results = append(results, seekResult{Topic: tp.Topic, Partition: p, PriorOffset: prior, NewOffset: r.offset, Error: errString(r.err)})
					if r.err == nil {
						commit.Add(kadm.Offset{Topic: tp.Topic, Partition: p, At: r.offset, LeaderEpoch: -1})
					}
				}
			}
			if !dryRun {
				commitErrs := commitInChunks(s, adm, group, commit)
				for i := range results {
					if err, ok := commitErrs[tpKey{results[i].Topic, results[i].Partition}]; ok && err != nil && results[i].Error == "" {
						results[i].Error = err.Error()
					}
				}
			}
			f := failures{what: "partitions"}
			for _, r := range results {
				if r.Error != "" {
					f.add(fmt.Errorf("%s/%d: %s", r.Topic, r.Partition, r.Error))
				} else {
					f.add(nil)
				}
			}
			if s.asJSON {
				err = writeJSON(s.out, nonNil(results))
			} else {
				t := newTable(s.out, "TOPIC", "PARTITION", "PRIOR-OFFSET", "NEW-OFFSET", "ERROR")
				for _, r := range results {
					t.row(r.Topic, r.Partition, r.PriorOffset, r.NewOffset, orDash(r.Error))
				}
				err = t.flush()
				if err == nil && dryRun {
					_, err = fmt.Fprintln(s.out, "(dry run: nothing committed)")
				}
			}
			if err != nil {
				return err
			}
			return f.err()
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&to, "to", "", "start, end, OFFSET, -N, +N or @TIME (required)")
	fl.StringSliceVar(&topics, "topics", nil, "topics to seek, comma separated (default: those with committed offsets)")
	fl.BoolVar(&dryRun, "dry-run", false, "show the new offsets without committing them")
	cmd.MarkFlagRequired("to")
	return cmd
}

// requireEmptyGroup refuses a group with members: their commits would
// overwrite the new offsets, and the coordinator rejects commits from
// outside a live generation.
func requireEmptyGroup(s *session, adm *kadm.Client, group string) error {
	dgs, err := adm.DescribeGroups(s.ctx, group)
	if err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	dg, ok := dgs[group]
	if !ok {
		return fmt.Errorf("describe group %s: %w", group, errMissing)
	}
	if errors.Is(dg.Err, kerr.GroupIDNotFound) {
		return nil // DescribeGroups v6+ (KIP-1043): no such group yet, as Dead
	}
	if err := kafkaErr(dg.Err, dg.ErrMessage); err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	if dg.State != "Empty" && dg.State != "Dead" {
		return fmt.Errorf("group %s is %s with %d members: offsets can only be moved for an empty group (stop its consumers first)",
			group, dg.State, len(dg.Members))
	}
	return nil
}

// tpKey is a map key naming a partition.
type tpKey struct {
	topic     string
	partition int32
}

// commitInChunks commits the offsets seekChunk partitions at a time, with
// a progress line, and returns each partition's error.
func commitInChunks(s *session, adm *kadm.Client, group string, offsets kadm.Offsets) map[tpKey]error {
	errs := map[tpKey]error{}
	var all []kadm.Offset
	offsets.Each(func(o kadm.Offset) { all = append(all, o) })
	prog := newProgress(s, "committed", "partitions", int64(len(all)), false)
	defer prog.finish()
	for i := 0; i < len(all); i += seekChunk {
		chunk := kadm.Offsets{}
		for _, o := range all[i:min(i+seekChunk, len(all))] {
			chunk.Add(o)
		}
		resp, err := adm.CommitOffsets(s.ctx, group, chunk)
		chunk.Each(func(o kadm.Offset) {
			key := tpKey{o.Topic, o.Partition}
			if err != nil {
				errs[key] = fmt.Errorf("commit: %w", err)
				return
			}
			r, ok := resp.Lookup(o.Topic, o.Partition)
			switch {
			case !ok:
				errs[key] = fmt.Errorf("commit: %w", errMissing)
			case r.Err != nil:
				errs[key] = r.Err
			}
		})
		prog.update(int64(min(i+seekChunk, len(all))))
	}
	return errs
}

func groupDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "delete GROUP [GROUP...]",
		Aliases:           []string{"rm"},
		Short:             "Delete empty groups and their committed offsets",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeGroups(g),
		RunE: run(g, func(s *session, adm *kadm.Client, groups []string) error {
			resp, err := adm.DeleteGroups(s.ctx, groups...)
			if err != nil {
				return fmt.Errorf("delete groups: %w", err)
			}
			type result struct {
				Group string `json:"group"`
				Error string `json:"error,omitempty"`
			}
			f := failures{what: "groups"}
			var results []result
			for _, gname := range groups {
				r, ok := resp[gname]
				var err error
				if !ok {
					err = errMissing
				} else {
					err = r.Err
				}
				if err != nil {
					err = fmt.Errorf("group %s: %w", gname, err)
				}
				f.add(err)
				results = append(results, result{Group: gname, Error: errString(err)})
			}
			if s.asJSON {
				err = writeJSON(s.out, results)
			} else {
				t := newTable(s.out, "GROUP", "STATUS")
				for _, r := range results {
					t.row(r.Group, orElse(r.Error, "deleted"))
				}
				err = t.flush()
			}
			if err != nil {
				return err
			}
			return f.err()
		}),
	}
}

func groupOffsetDeleteCmd(g *globals) *cobra.Command {
	var (
		topics     []string
		partitions []int32
	)
	cmd := &cobra.Command{
		Use:   "offset-delete GROUP --topic T [--partitions P,...]",
		Short: "Delete a group's committed offsets for topics (OffsetDelete)",
		Long: `Delete the committed offsets of a group for the partitions of the topics given
(all of each topic's partitions, or --partitions). The coordinator refuses
(GROUP_SUBSCRIBED_TO_TOPIC) while active members are subscribed to a topic.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeGroups(g),
		RunE: run(g, func(s *session, adm *kadm.Client, args []string) error {
			group := args[0]
			set := kadm.TopicsSet{}
			if len(partitions) > 0 {
				for _, t := range topics {
					set.Add(t, partitions...)
				}
			} else {
				tds, err := adm.ListTopics(s.ctx, topics...)
				if err != nil {
					return fmt.Errorf("metadata: %w", err)
				}
				for _, t := range topics {
					if td := tds[t]; td.Err != nil {
						return fmt.Errorf("topic %s: %w", t, td.Err)
					}
					set.Add(t, tds[t].Partitions.Numbers()...)
				}
			}
			resp, err := adm.DeleteOffsets(s.ctx, group, set)
			if err != nil {
				return fmt.Errorf("delete offsets of %s: %w", group, err)
			}
			type result struct {
				Topic     string `json:"topic"`
				Partition int32  `json:"partition"`
				Error     string `json:"error,omitempty"`
			}
			f := failures{what: "partitions"}
			var results []result
			for _, tp := range set.Sorted() {
				for _, p := range tp.Partitions {
					perr, ok := resp.Lookup(tp.Topic, p)
					if !ok {
						perr = errMissing
					}
					results = append(results, result{Topic: tp.Topic, Partition: p, Error: errString(perr)})
					if perr != nil {
						perr = fmt.Errorf("%s/%d: %w", tp.Topic, p, perr)
					}
					f.add(perr)
				}
			}
			if s.asJSON {
				err = writeJSON(s.out, nonNil(results))
			} else {
				t := newTable(s.out, "TOPIC", "PARTITION", "STATUS")
				for _, r := range results {
					t.row(r.Topic, r.Partition, orElse(r.Error, "deleted"))
				}
				err = t.flush()
			}
			if err != nil {
				return err
			}
			return f.err()
		}),
	}
	fl := cmd.Flags()
	fl.StringSliceVarP(&topics, "topic", "t", nil, "topics whose offsets to delete (repeatable, comma separated; required)")
	fl.Int32SliceVarP(&partitions, "partitions", "p", nil, "only these partitions (default all)")
	cmd.MarkFlagRequired("topic")
	return cmd
}
