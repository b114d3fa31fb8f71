package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func clusterCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Cluster id, brokers, controller, metadata quorum and health",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(clusterInfoCmd(g), clusterHealthCmd(g))
	return cmd
}

// brokerEntry is a broker in JSON.
type brokerEntry struct {
	NodeID int32   `json:"node_id"`
	Host   string  `json:"host"`
	Port   int32   `json:"port"`
	Rack   *string `json:"rack"`
}

func (b brokerEntry) address() string {
	return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
}

func brokerEntries(bs kadm.BrokerDetails) []brokerEntry {
	out := make([]brokerEntry, 0, len(bs))
	for _, b := range bs {
		out = append(out, brokerEntry{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	slices.SortFunc(out, func(a, b brokerEntry) int { return int(a.NodeID) - int(b.NodeID) })
	return out
}

// clusterInfo is the JSON of cluster info.
type clusterInfo struct {
	ClusterID                 string        `json:"cluster_id"`
	ControllerID              int32         `json:"controller_id"` // -1: unknown
	Brokers                   []brokerEntry `json:"brokers"`
	Topics                    int           `json:"topics"`
	Partitions                int           `json:"partitions"`
	UnderReplicatedPartitions int           `json:"under_replicated_partitions"`
	OfflinePartitions         int           `json:"offline_partitions"` // without a leader
	Quorum                    quorumInfo    `json:"quorum"`
}

// quorumInfo is the metadata quorum as DescribeQuorum tells it.
type quorumInfo struct {
	Supported     bool           `json:"supported"`
	Error         string         `json:"error,omitempty"`
	LeaderID      int32          `json:"leader_id"`
	LeaderEpoch   int32          `json:"leader_epoch"`
	HighWatermark int64          `json:"high_watermark"`
	Voters        []quorumMember `json:"voters"`
	Observers     []quorumMember `json:"observers"`
}

type quorumMember struct {
	ReplicaID             int32 `json:"replica_id"`
	LogEndOffset          int64 `json:"log_end_offset"`
	Lag                   int64 `json:"lag"`                      // high watermark minus log end offset
	LastFetchTimestamp    int64 `json:"last_fetch_timestamp"`     // ms since the epoch; -1: unknown
	LastCaughtUpTimestamp int64 `json:"last_caught_up_timestamp"` // ms since the epoch; -1: unknown
}

// errQuorumUnsupported is the answer of a cluster that does not serve
// DescribeQuorum.
var errQuorumUnsupported = errors.New("DescribeQuorum not supported by this cluster")

const describeQuorumKey = 55

func clusterInfoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Cluster id, brokers (with racks), controller, partition health counts and the metadata quorum",
		Long: `Print the cluster id, the brokers with their racks and the controller
(Metadata), the number of topics and partitions with the under-replicated
(ISR smaller than the replicas) and offline (no leader) ones, and the metadata
quorum (DescribeQuorum: leader, voters and observers with their lag). A
cluster that does not serve DescribeQuorum says so; the rest is still printed.`,
		Args: cobra.NoArgs,
		RunE: run(g, func(s *session, adm *kadm.Client, _ []string) error {
			m, err := adm.Metadata(s.ctx)
			if err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
			info := clusterInfo{ClusterID: m.Cluster, ControllerID: m.Controller, Brokers: brokerEntries(m.Brokers), Topics: len(m.Topics)}
			m.Topics.EachPartition(func(p kadm.PartitionDetail) {
				info.Partitions++
				if len(p.ISR) < len(p.Replicas) {
					info.UnderReplicatedPartitions++
				}
				if p.Leader < 0 {
					info.OfflinePartitions++
				}
			})
			info.Quorum = describeQuorum(s.ctx, adm, s.cl, m)
			if s.asJSON {
				return writeJSON(s.out, info)
			}
			return printClusterInfo(s.out, info, time.Now())
		}),
	}
}

// describeQuorum asks for the metadata quorum of __cluster_metadata. A
// broker that lacks the API in ApiVersions, or answers UNSUPPORTED_VERSION,
// gives errQuorumUnsupported.
func describeQuorum(ctx context.Context, adm *kadm.Client, cl kmsg.Requestor, m kadm.Metadata) quorumInfo {
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return quorumFailed(fmt.Errorf("api versions: %w", err))
	}
	// Admin requests go to the controller the metadata names: ask whether
	// it has the API (any broker that answered, if it is unknown).
	target, ok := vs[m.Controller]
	if !ok || target.Err != nil {
		ok = false
		for _, v := range vs.Sorted() {
			if v.Err == nil {
				target, ok = v, true
				break
			}
		}
	}
	if !ok {
		return quorumFailed(errors.New("api versions: no broker answered"))
	}
	if _, has := target.KeyMaxVersion(describeQuorumKey); !has {
		return quorumFailed(errQuorumUnsupported)
	}
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rp.Partition = 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return quorumFailed(fmt.Errorf("describe quorum: %w", err))
	}
	return quorumFromResponse(resp)
}

func emptyQuorum() quorumInfo {
	return quorumInfo{LeaderID: -1, LeaderEpoch: -1, HighWatermark: -1, Voters: []quorumMember{}, Observers: []quorumMember{}}
}

// quorumFailed is the quorum part of cluster info when DescribeQuorum
// failed; UNSUPPORTED_VERSION says the cluster does not serve it.
func quorumFailed(err error) quorumInfo {
	q := emptyQuorum()
	q.Supported = true
	if errors.Is(err, kerr.UnsupportedVersion) || errors.Is(err, errQuorumUnsupported) {
		q.Supported, err = false, errQuorumUnsupported
	}
	q.Error = err.Error()
	return q
}

// quorumFromResponse reads the first partition of a DescribeQuorum
// response; each member's lag is the high watermark minus its log end.
func quorumFromResponse(resp *kmsg.DescribeQuorumResponse) quorumInfo {
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return quorumFailed(fmt.Errorf("describe quorum: %w", kafkaErr(err, derefString(resp.ErrorMessage))))
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return quorumFailed(fmt.Errorf("describe quorum: %w", kafkaErr(err, derefString(p.ErrorMessage))))
			}
			q := emptyQuorum()
			q.Supported = true
			q.LeaderID, q.LeaderEpoch, q.HighWatermark = p.LeaderID, p.LeaderEpoch, p.HighWatermark
			for _, v := range p.CurrentVoters {
				q.Voters = append(q.Voters, quorumMemberOf(v, p.HighWatermark))
			}
			for _, o := range p.Observers {
				q.Observers = append(q.Observers, quorumMemberOf(o, p.HighWatermark))
			}
			return q
		}
	}
	return quorumFailed(errors.New("describe quorum: no partition in the response"))
}

func quorumMemberOf(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, hw int64) quorumMember {
	return quorumMember{ReplicaID: r.ReplicaID, LogEndOffset: r.LogEndOffset, Lag: max(0, hw-r.LogEndOffset),
		LastFetchTimestamp: r.LastFetchTimestamp, LastCaughtUpTimestamp: r.LastCaughtUpTimestamp}
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// printClusterInfo writes the text of cluster info; now dates the quorum's
// fetch times.
func printClusterInfo(w io.Writer, info clusterInfo, now time.Time) error {
	section(w, "CLUSTER")
	t := newTable(w)
	t.row("ID", orDash(info.ClusterID))
	t.row("CONTROLLER", nodeOrUnknown(info.ControllerID))
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	section(w, "BROKERS")
	t = newTable(w, "ID", "HOST", "PORT", "RACK")
	for _, b := range info.Brokers {
		id := itoa32(b.NodeID)
		if b.NodeID == info.ControllerID {
			id += "*"
		}
		rack := "-"
		if b.Rack != nil {
			rack = *b.Rack
		}
		t.row(id, b.Host, b.Port, rack)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	section(w, "PARTITIONS")
	t = newTable(w)
	t.row("TOPICS", info.Topics)
	t.row("PARTITIONS", info.Partitions)
	t.row("UNDER-REPLICATED", info.UnderReplicatedPartitions)
	t.row("OFFLINE", info.OfflinePartitions)
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	section(w, "QUORUM")
	q := info.Quorum
	if q.Error != "" {
		_, err := fmt.Fprintln(w, q.Error)
		return err
	}
	t = newTable(w)
	t.row("LEADER", nodeOrUnknown(q.LeaderID))
	t.row("LEADER-EPOCH", q.LeaderEpoch)
	t.row("HIGH-WATERMARK", q.HighWatermark)
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "ROLE", "ID", "LOG-END-OFFSET", "LAG", "LAST-FETCH", "LAST-CAUGHT-UP")
	for _, group := range []struct {
		role    string
		members []quorumMember
	}{{"voter", q.Voters}, {"observer", q.Observers}} {
		for _, m := range group.members {
			role := group.role
			if m.ReplicaID == q.LeaderID {
				role = "leader"
			}
			t.row(role, m.ReplicaID, m.LogEndOffset, m.Lag, msAgo(now, m.LastFetchTimestamp), msAgo(now, m.LastCaughtUpTimestamp))
		}
	}
	return t.flush()
}

func nodeOrUnknown(id int32) string {
	if id < 0 {
		return "unknown"
	}
	return itoa32(id)
}

// msAgo shows a timestamp as the time since it: "120ms ago".
func msAgo(now time.Time, ms int64) string {
	if ms < 0 {
		return "-"
	}
	return now.Sub(time.UnixMilli(ms)).Round(time.Millisecond).String() + " ago"
}

// healthReport is the verdict of cluster health, and its JSON.
type healthReport struct {
	Healthy                   bool             `json:"healthy"`
	ControllerID              int32            `json:"controller_id"`
	Brokers                   []int32          `json:"brokers"`
	BrokersDown               []int32          `json:"brokers_down"` // replicas on brokers the metadata does not list
	LeaderlessPartitions      []topicPartition `json:"leaderless_partitions"`
	UnderReplicatedPartitions []topicPartition `json:"under_replicated_partitions"`
	PartitionErrors           []topicPartition `json:"partition_errors"`
	Reasons                   []string         `json:"reasons"` // why not healthy; empty when healthy
}

// topicPartition names a partition in JSON; Error is set for partition
// errors.
type topicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Error     string `json:"error,omitempty"`
}

// assessHealth decides whether the cluster the metadata describes is
// healthy: the controller is known, brokers are listed, every partition has
// a leader and its full ISR and no error, and no replica is on a broker the
// metadata does not list.
func assessHealth(m kadm.Metadata) healthReport {
	h := healthReport{ControllerID: m.Controller, Brokers: []int32{}, BrokersDown: []int32{},
		LeaderlessPartitions: []topicPartition{}, UnderReplicatedPartitions: []topicPartition{},
		PartitionErrors: []topicPartition{}, Reasons: []string{}}
	live := map[int32]bool{}
	for _, b := range m.Brokers {
		live[b.NodeID] = true
		h.Brokers = append(h.Brokers, b.NodeID)
	}
	slices.Sort(h.Brokers)
	down := map[int32]bool{}
	for _, td := range m.Topics.Sorted() {
		if td.Err != nil {
			h.PartitionErrors = append(h.PartitionErrors, topicPartition{Topic: td.Topic, Partition: -1, Error: td.Err.Error()})
			continue
		}
		for _, p := range td.Partitions.Sorted() {
			tp := topicPartition{Topic: td.Topic, Partition: p.Partition}
			if p.Err != nil && !errors.Is(p.Err, kerr.ReplicaNotAvailable) {
				// REPLICA_NOT_AVAILABLE only says a replica is down, which
				// the ISR and broker checks report.
				h.PartitionErrors = append(h.PartitionErrors, topicPartition{Topic: td.Topic, Partition: p.Partition, Error: p.Err.Error()})
			}
			if p.Leader < 0 || !live[p.Leader] {
				h.LeaderlessPartitions = append(h.LeaderlessPartitions, tp)
			}
			if len(p.ISR) < len(p.Replicas) || len(p.OfflineReplicas) > 0 {
				h.UnderReplicatedPartitions = append(h.UnderReplicatedPartitions, tp)
			}
			for _, r := range p.Replicas {
				if !live[r] {
					down[r] = true
				}
			}
		}
	}
	for id := range down {
		h.BrokersDown = append(h.BrokersDown, id)
	}
	slices.Sort(h.BrokersDown)
	if m.Controller < 0 {
		h.Reasons = append(h.Reasons, "no controller known")
	}
	if len(h.Brokers) == 0 {
		h.Reasons = append(h.Reasons, "no brokers listed")
	}
	if len(h.BrokersDown) > 0 {
		h.Reasons = append(h.Reasons, fmt.Sprintf("brokers down (hold replicas, not in the metadata): %s", int32List(h.BrokersDown)))
	}
	if n := len(h.LeaderlessPartitions); n > 0 {
		h.Reasons = append(h.Reasons, fmt.Sprintf("%d partitions without a leader: %s", n, tpList(h.LeaderlessPartitions)))
	}
	if n := len(h.UnderReplicatedPartitions); n > 0 {
		h.Reasons = append(h.Reasons, fmt.Sprintf("%d under-replicated partitions: %s", n, tpList(h.UnderReplicatedPartitions)))
	}
	if n := len(h.PartitionErrors); n > 0 {
		h.Reasons = append(h.Reasons, fmt.Sprintf("%d partitions with errors: %s", n, tpList(h.PartitionErrors)))
	}
	h.Healthy = len(h.Reasons) == 0
	return h
}

// tpList shows at most ten partitions: "t/0, t/1, u/3 and 7 more".
func tpList(tps []topicPartition) string {
	const shown = 10
	var b []byte
	for i, tp := range tps {
		if i == shown {
			b = fmt.Appendf(b, " and %d more", len(tps)-shown)
			break
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		if tp.Partition < 0 {
			b = fmt.Appendf(b, "%s", tp.Topic)
		} else {
			b = fmt.Appendf(b, "%s/%d", tp.Topic, tp.Partition)
		}
		if tp.Error != "" {
			b = fmt.Appendf(b, " (%s)", tp.Error)
		}
	}
	return string(b)
}

// errUnhealthy ends cluster health with exit status 1.
var errUnhealthy = errors.New("cluster is not healthy")

func clusterHealthCmd(g *globals) *cobra.Command {
	var (
		watch, exitWhenHealthy bool
		interval               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Say whether the cluster is healthy; exit status 0 if so, 1 if not",
		Long: `Decide from the metadata whether the cluster is healthy: a controller is
known, every partition has a live leader and its full ISR (no offline replica),
no partition reports an error, and no replica sits on a broker the metadata
does not list (a broker down). Exit status 0 when healthy, 1 when not, with
the reasons.

--watch re-checks every --interval and prints the verdict each time it
changes, until interrupted; --exit-when-healthy checks until the cluster is
healthy (bounded by --timeout when set explicitly) and then exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			waiting := watch || exitWhenHealthy
			s, stop := newSession(g, cmd, !waiting || cmd.Flags().Changed("timeout"))
			defer stop()
			if err := s.jsonOrText(); err != nil {
				return err
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %v: want > 0", interval)
			}
			var opts []kgo.Opt
			if waiting {
				// Fresh metadata at each check (kgo's floor is 10 ms).
				opts = append(opts, kgo.MetadataMinAge(max(10*time.Millisecond, min(interval/2, 5*time.Second))))
			}
			adm, _, err := g.admin(opts...)
			if err != nil {
				return err
			}
			defer adm.Close()
			var last *healthReport
			for {
				ctx, cancel := context.WithTimeout(s.ctx, g.timeout)
				m, err := adm.Metadata(ctx)
				cancel()
				if err != nil && (!waiting || s.ctx.Err() != nil) {
					if s.ctx.Err() != nil && last != nil {
						return verdict(*last)
					}
					return fmt.Errorf("metadata: %w", err)
				}
				if err == nil {
					h := assessHealth(m)
					if last == nil || !sameHealth(*last, h) {
						if last != nil && !s.asJSON {
							fmt.Fprintln(s.out) // one report per block
						}
						if err := printHealth(s, h); err != nil {
							return err
						}
					}
					last = &h
					if !waiting || (exitWhenHealthy && h.Healthy) {
						return verdict(h)
					}
				} else {
					fmt.Fprintf(s.errOut, "metadata: %v (retrying)\n", err)
				}
				select {
				case <-s.ctx.Done():
					if last == nil {
						return fmt.Errorf("metadata: %w", s.ctx.Err())
					}
					return verdict(*last)
				case <-time.After(interval):
				}
			}
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&watch, "watch", "w", false, "re-check every --interval, printing each change, until interrupted")
	fl.BoolVarP(&exitWhenHealthy, "exit-when-healthy", "e", false, "re-check until healthy, then exit 0")
	fl.DurationVar(&interval, "interval", 2*time.Second, "time between checks with --watch or --exit-when-healthy")
	return cmd
}

// verdict is the command's result for a report: errUnhealthy with the
// first reason, or nil.
func verdict(h healthReport) error {
	if !h.Healthy {
		return fmt.Errorf("%w: %s", errUnhealthy, h.Reasons[0])
	}
	return nil
}

func sameHealth(a, b healthReport) bool {
	return a.Healthy == b.Healthy && slices.Equal(a.Reasons, b.Reasons) && a.ControllerID == b.ControllerID &&
		slices.Equal(a.Brokers, b.Brokers)
}

func printHealth(s *session, h healthReport) error {
	if s.asJSON {
		return writeJSON(s.out, h)
	}
	t := newTable(s.out)
	t.row("HEALTHY", h.Healthy)
	t.row("CONTROLLER", nodeOrUnknown(h.ControllerID))
	t.row("BROKERS", int32List(h.Brokers))
	t.row("BROKERS-DOWN", int32List(h.BrokersDown))
	t.row("LEADERLESS-PARTITIONS", len(h.LeaderlessPartitions))
	t.row("UNDER-REPLICATED-PARTITIONS", len(h.UnderReplicatedPartitions))
	if err := t.flush(); err != nil {
		return err
	}
	for _, r := range h.Reasons {
		if _, err := fmt.Fprintf(s.out, "unhealthy: %s\n", r); err != nil {
			return err
		}
	}
	return nil
}
