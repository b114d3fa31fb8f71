// Package handlers serves the Kafka APIs: one file per API key (named
// NN_name.go after the key) whose header lists the versions served and the
// KIPs that shaped them. This file holds the version table, dispatch and the
// mapping of Go errors to Kafka error codes, which happens only here.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/group"
	"github.com/gregor-dev/gregor/internal/metrics"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/server"
)

// Handlers serves requests against one broker.
type Handlers struct {
	b       *broker.Broker
	host    string // advertised host and port
	port    int32
	logger  *slog.Logger
	now     func() time.Time
	apis    map[int16]api
	groups  *group.Coordinator
	cluster Cluster
	metrics *metrics.Metrics // nil: none
	ready   <-chan struct{}

	parkedFetches atomic.Int64 // see ParkedFetches
	metadataCache metadataCache
	sessions      *fetchSessions
}

type api struct {
	min, max int16
	serve    func(ctx context.Context, r *server.Request) (kmsg.Response, error)
}

// typed adapts a handler of one request type to the table.
func typed[R kmsg.Request](f func(ctx context.Context, r *server.Request, req R) (kmsg.Response, error)) func(context.Context, *server.Request) (kmsg.Response, error) {
	return func(ctx context.Context, r *server.Request) (kmsg.Response, error) {
		req, ok := r.Body.(R)
		if !ok {
			return nil, fmt.Errorf("handlers: request body %T for key %d", r.Body, r.Key)
		}
		return f(ctx, r, req)
	}
}

// Config is what New needs: the broker, its cluster membership and group
// coordinator (started and closed by the caller), and the address this
// broker advertises (host:port).
type Config struct {
	Broker     *broker.Broker
	Cluster    Cluster
	Groups     *group.Coordinator
	Advertised string
	Logger     *slog.Logger
	Metrics    *metrics.Metrics // nil: none
	// Ready, when set, is closed once the node has caught up with the
	// metadata log and registered: clients' requests wait for it (see
	// Handle), brokers' controller requests do not.
	Ready <-chan struct{}
}

// New returns the handlers of one broker.
func New(c Config) (*Handlers, error) {
	host, portStr, err := net.SplitHostPort(c.Advertised)
	if err != nil {
		return nil, fmt.Errorf("handlers: advertised address %q: %w", c.Advertised, err)
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("handlers: advertised port %q: %w", portStr, err)
	}
	if c.Broker == nil || c.Cluster == nil || c.Groups == nil {
		return nil, errors.New("handlers: a broker, its cluster membership and its group coordinator are required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	h := &Handlers{b: c.Broker, cluster: c.Cluster, groups: c.Groups, host: host, port: int32(port), logger: c.Logger, now: time.Now, metrics: c.Metrics, ready: c.Ready}
	h.sessions = newFetchSessions(int(c.Broker.Config().Int("max.incremental.fetch.session.cache.slots")), h.now)
	// The served versions: from the oldest that today's clients send (and
	// that carry RecordBatch v2 where records are involved) to the newest
	// kmsg knows. 56, 62, 63 and 67 are KRaft's broker-to-controller
	// requests (cluster.go).
	h.apis = map[int16]api{
		0:  {3, 13, typed(h.produce)},
		1:  {4, 18, typed(h.fetch)},
		2:  {0, 11, typed(h.listOffsets)},
		3:  {0, 13, typed(h.metadata)},
		8:  {0, 10, typed(h.offsetCommit)},
		9:  {0, 10, typed(h.offsetFetch)},
		10: {0, 6, typed(h.findCoordinator)},
		11: {0, 9, typed(h.joinGroup)},
		12: {0, 4, typed(h.heartbeat)},
		13: {0, 5, typed(h.leaveGroup)},
		14: {0, 5, typed(h.syncGroup)},
		15: {0, 6, typed(h.describeGroups)},
		16: {0, 5, typed(h.listGroups)},
		18: {0, 5, typed(h.apiVersions)},
		19: {0, 7, typed(h.createTopics)},
		20: {0, 6, typed(h.deleteTopics)},
		21: {0, 2, typed(h.deleteRecords)},
		22: {0, 5, typed(h.initProducerID)},
		23: {0, 4, typed(h.offsetForLeaderEpoch)},
		32: {0, 4, typed(h.describeConfigs)},
		33: {0, 2, typed(h.alterConfigs)},
		37: {0, 3, typed(h.createPartitions)},
		43: {0, 2, typed(h.electLeaders)},
		42: {0, 2, typed(h.deleteGroups)},
		44: {0, 1, typed(h.incrementalAlterConfigs)},
		47: {0, 0, typed(h.offsetDelete)},
		55: {0, 2, typed(h.describeQuorum)},
		56: {0, 3, h.controllerRequest},
		60: {0, 2, typed(h.describeCluster)},
		62: {0, 3, h.controllerRequest},
		63: {0, 1, h.controllerRequest},
		67: {0, 0, h.controllerRequest},
	}
	for key, a := range h.apis {
		if req := kmsg.RequestForKey(key); req == nil || req.MaxVersion() < a.max {
			return nil, fmt.Errorf("handlers: kmsg cannot encode %s v%d", kmsg.NameForKey(key), a.max)
		}
	}
	return h, nil
}

// Versions implements server.Handler.
func (h *Handlers) Versions(key int16) (min, max int16, ok bool) {
	a, ok := h.apis[key]
	return a.min, a.max, ok
}

// Handle implements server.Handler.
//
// Until the node is ready a client's request waits (up to readyWait, then
// the connection is closed and the client tries another broker): a
// restarted broker's metadata may not have caught up yet, and it would
// answer with no brokers or no topics, as Kafka, which opens its listeners
// only once caught up, never does. ApiVersions and the requests brokers
// send to the controller are served at once: the quorum needs them to get
// there.
func (h *Handlers) Handle(ctx context.Context, r *server.Request) (kmsg.Response, error) {
	a, ok := h.apis[r.Key]
	if !ok {
		return nil, fmt.Errorf("handlers: api key %d not served", r.Key)
	}
	if h.ready != nil && !beforeReady[r.Key] {
		select {
		case <-h.ready:
		default:
			t := time.NewTimer(readyWait)
			defer t.Stop()
			select {
			case <-h.ready:
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: shutting down before this broker was ready", server.ErrCloseConnection)
			case <-t.C:
				// As a Kafka broker that has not opened its listener
				// yet: the client goes to another broker.
				return nil, fmt.Errorf("%w: this broker has not caught up with the metadata log yet", server.ErrCloseConnection)
			}
		}
	}
	return a.serve(ctx, r)
}

// beforeReady are the APIs served while the node is catching up.
var beforeReady = map[int16]bool{18: true, 56: true, 62: true, 63: true, 67: true}

// readyWait bounds how long a client's request waits for the node to be
// ready.
const readyWait = 5 * time.Second

// errCode maps an error from the broker's packages to a Kafka error code,
// counting it. Unexpected errors are logged and answered
// UNKNOWN_SERVER_ERROR.
func (h *Handlers) errCode(err error) int16 {
	code := h.errorCode(err)
	if code != 0 && h.metrics != nil {
		name := "UNKNOWN"
		if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
			name = ke.Message
		}
		h.metrics.Error(name)
	}
	return code
}

func (h *Handlers) errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, broker.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, broker.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, broker.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, broker.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, broker.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, broker.ErrDeletionDisabled):
		return kerr.TopicDeletionDisabled.Code
	case errors.Is(err, broker.ErrNotHosted):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, broker.ErrNotController):
		return kerr.NotController.Code
	case errors.Is(err, broker.ErrProducerIDsUnavailable):
		// Kafka's RPCProducerIdManager answers this (retriable) while it
		// has no block.
		return kerr.CoordinatorLoadInProgress.Code
	case errors.Is(err, config.ErrUnknownKey), errors.Is(err, config.ErrInvalidValue):
		return kerr.InvalidConfig.Code
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, partition.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, partition.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, partition.ErrNotLeader), errors.Is(err, partition.ErrNotFollower):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, partition.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, partition.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, partition.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas.Code
	case errors.Is(err, partition.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, record.ErrCorrupt), errors.Is(err, record.ErrTruncated):
		return kerr.CorruptMessage.Code
	case errors.Is(err, record.ErrInvalid), errors.Is(err, record.ErrMagic):
		return kerr.InvalidRecord.Code
	case errors.Is(err, partition.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, partition.ErrNoSpace):
		// A full disk: the log logged it once and resumes by itself;
		// producers retry.
		return kerr.KafkaStorageError.Code
	case errors.Is(err, partition.ErrDamaged):
		// A read of a batch the scrubber found damaged: it logged it
		// once; clients retry (and refresh metadata: the leader may move).
		return kerr.KafkaStorageError.Code
	case errors.Is(err, partition.ErrStorage):
		h.logger.Error("storage error", "err", err)
		return kerr.KafkaStorageError.Code
	case errors.Is(err, partition.ErrTruncated):
		// Truncated before its fsync: this broker became a follower.
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, partition.ErrClosed), errors.Is(err, partition.ErrLogClosed), errors.Is(err, broker.ErrClosed):
		// The partition is going away (deletion or shutdown): the client
		// refreshes its metadata and retries.
		return kerr.NotLeaderForPartition.Code
	}
	h.logger.Error("unexpected error answered UNKNOWN_SERVER_ERROR", "err", err)
	return kerr.UnknownServerError.Code
}

// errMessage is the message for a response's ErrorMessage field, nil if none.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// checkLeaderEpoch applies KIP-320's fencing of a client's view of the
// leader epoch: -1 means the client does not know it.
func checkLeaderEpoch(current, ours int32) error {
	switch {
	case current < 0 || current == ours:
		return nil
	case current < ours:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}

// Authorized-operation bits (Kafka AclOperation codes) reported when a
// client asks: without an authorizer every operation is allowed.
const (
	topicOperations = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11 // READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS
	// CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE CREATE_TOKENS DESCRIBE_TOKENS
	clusterOperations = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<13 | 1<<14
	operationsOmitted = -2147483648
)
