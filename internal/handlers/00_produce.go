package handlers

// Produce, key 0, versions 3-13.
//
// v3 (KIP-98) is the first with RecordBatch v2 and a transactional id; v5
// adds the log start offset; v8 (KIP-467) per-record errors and an error
// message; v9 flexible; v10-v11 (KIP-951) leader hints; v13 (KIP-516)
// topics by id. Each partition carries exactly one batch, validated
// (record.Validate) outside any lock, then appended by its partition, which
// checks idempotent sequences and assigns offsets in place.
//
// Only the partition's leader appends (else NOT_LEADER_OR_FOLLOWER). acks=0
// sends no response; acks=1 answers once the batch is in the leader's log
// and, when the flush policy asks (flush.messages=1), on disk: all
// partitions are written first, then their fsyncs run together. acks=-1 is
// refused with NOT_ENOUGH_REPLICAS, nothing appended, while the ISR is
// smaller than min.insync.replicas; otherwise it also waits, all partitions
// of the request together and within the request's timeout, for the high
// watermark to pass each batch (the whole ISR has it): REQUEST_TIMED_OUT
// when the timeout passes first, NOT_LEADER_OR_FOLLOWER if leadership is
// lost meanwhile, NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
// min.insync.replicas before it committed (as Kafka's DelayedProduce).

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) produce(ctx context.Context, _ *server.Request, req *kmsg.ProduceRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var topLevel error
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		topLevel = kerr.InvalidRequiredAcks
	case req.TransactionID != nil:
		// Transactions are not implemented yet: refuse rather than write
		// batches no coordinator will ever commit or abort.
		topLevel = kerr.TransactionalIDAuthorizationFailed
	}
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	var (
		syncs   []pendingSync
		commits []pendingCommit
	)
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var (
			t    *broker.Topic
			tErr = topLevel
		)
		if tErr == nil {
			var ok bool
			if req.Version >= 13 {
				if t, ok = h.b.TopicByID(rt.TopicID); !ok {
					tErr = kerr.UnknownTopicID
				}
			} else if t, ok = h.b.Topic(rt.Topic); !ok {
				tErr = broker.ErrUnknownTopic
			}
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			err := tErr
			if err == nil {
				var (
					ps pendingSync
					pc pendingCommit
				)
				ps, pc, err = h.produceOne(t, rp, req.Acks, &sp)
				if ps.p != nil {
					ps.topic, ps.partition = i, j
					syncs = append(syncs, ps)
				}
				if pc.p != nil {
					pc.topic, pc.partition = i, j
					commits = append(commits, pc)
				}
			}
			if err != nil {
				h.setProduceError(req.Version, &sp, err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	// Every partition is written; now wait for the fsyncs the flush policy
	// asks for, all at once, so they overlap with each other and group with
	// other producers' (group commit).
	for k, err := range waitSyncs(syncs) {
		if err != nil {
			s := syncs[k]
			sp := &resp.Topics[s.topic].Partitions[s.partition]
			sp.BaseOffset, sp.LogAppendTime = -1, -1
			h.setProduceError(req.Version, sp, err)
		}
	}
	if len(commits) > 0 {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
		for k, err := range waitCommits(wctx, commits) {
			if err != nil {
				c := commits[k]
				sp := &resp.Topics[c.topic].Partitions[c.partition]
				if sp.ErrorCode != 0 {
					continue // its fsync failed
				}
				sp.BaseOffset, sp.LogAppendTime = -1, -1
				h.setProduceError(req.Version, sp, err)
			}
		}
		cancel()
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

func (h *Handlers) setProduceError(version int16, sp *kmsg.ProduceResponseTopicPartition, err error) {
	sp.ErrorCode = h.errCode(err)
	if version >= 8 {
		sp.ErrorMessage = errMessage(err)
	}
}

// pendingSync is an appended batch waiting for the fsync that must precede
// its acknowledgement.
type pendingSync struct {
	p                *partition.Partition
	upTo             partition.SyncPoint
	topic, partition int
}

// waitSyncs runs the pending fsyncs concurrently and returns their errors.
func waitSyncs(syncs []pendingSync) []error {
	errs := make([]error, len(syncs))
	switch len(syncs) {
	case 0:
	case 1:
		errs[0] = syncs[0].p.Sync(syncs[0].upTo)
	default:
		var wg sync.WaitGroup
		for k := range syncs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[k] = syncs[k].p.Sync(syncs[k].upTo)
			}()
		}
		wg.Wait()
	}
	return errs
}

// pendingCommit is an acks=-1 batch waiting for the ISR to have it.
type pendingCommit struct {
	p                *partition.Partition
	last             int64 // the batch's last offset
	minISR           int32
	topic, partition int
}

// waitCommits waits for every pending batch to be committed, all under the
// request's one deadline, and returns their errors.
func waitCommits(ctx context.Context, commits []pendingCommit) []error {
	errs := make([]error, len(commits))
	for k, c := range commits {
		err := c.p.WaitCommitted(ctx, c.last)
		switch {
		case err == nil:
			if c.p.InSyncCount() < int(c.minISR) {
				err = partition.ErrNotEnoughReplicasAfterAppend
			}
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			err = kerr.RequestTimedOut
		}
		errs[k] = err
	}
	return errs
}

// produceOne validates and appends one partition's batch. If the flush
// policy wants an fsync before the acknowledgement, it is returned pending;
// under acks=-1 so is the wait for the ISR.
func (h *Handlers) produceOne(t *broker.Topic, rp *kmsg.ProduceRequestTopicPartition, acks int16, sp *kmsg.ProduceResponseTopicPartition) (pendingSync, pendingCommit, error) {
	_, p, err := h.b.Partition(t.Name, rp.Partition)
	if err != nil {
		return pendingSync{}, pendingCommit{}, err
	}
	if !p.IsLeader() {
		return pendingSync{}, pendingCommit{}, partition.ErrNotLeader
	}
	cfg := t.AppendConfig()
	if acks == -1 && p.InSyncCount() < int(cfg.MinInsyncReplicas) {
		return pendingSync{}, pendingCommit{}, partition.ErrNotEnoughReplicas
	}
	hdr, err := record.Validate(rp.Records)
	if err != nil {
		return pendingSync{}, pendingCommit{}, err
	}
	res, syncTo, err := p.AppendAsync(rp.Records, &hdr, cfg)
	sp.LogStartOffset = res.LogStartOffset
	if err != nil {
		return pendingSync{}, pendingCommit{}, err
	}
	sp.BaseOffset, sp.LogAppendTime = res.BaseOffset, res.LogAppendTime
	var (
		ps pendingSync
		pc pendingCommit
	)
	if syncTo.Due() {
		ps = pendingSync{p: p, upTo: syncTo}
	}
	// A duplicate is answered with its original offsets, which must be
	// committed as well. While the ISR is this broker alone the high
	// watermark is the log end: nothing to wait for, nothing allocated.
	if last := res.BaseOffset + int64(hdr.LastOffsetDelta); acks == -1 && p.HighWatermark() <= last {
		pc = pendingCommit{p: p, last: last, minISR: cfg.MinInsyncReplicas}
	}
	return ps, pc, nil
}
