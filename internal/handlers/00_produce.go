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
// Each partition's batch goes to its partition's Produce (internal/partition/produce.go), which owns the
// whole acknowledgement contract: min.insync.replicas before and after the
// append, the flush policy's fsync, the wait for the ISR under acks=-1 and
// the failure of an acknowledgement whose leadership changed. Every
// partition is appended first; then the handler waits for all their
// acknowledgements together (fsyncs overlap and group with other
// producers'), under the request's timeout: REQUEST_TIMED_OUT when the ISR
// does not catch up in time.
//
// acks=0 sends no response; when a partition failed, the connection is
// closed instead, as Kafka does, so that the producer refreshes its
// metadata rather than go on sending to a broker that, say, no longer
// leads.

import (
	"context"
	"errors"
	"fmt"
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
	case req.Acks != partition.AcksNone && req.Acks != partition.AcksLeader && req.Acks != partition.AcksAll:
		topLevel = kerr.InvalidRequiredAcks
	case req.TransactionID != nil:
		// Transactions are not implemented yet: refuse rather than write
		// batches no coordinator will ever commit or abort.
		topLevel = kerr.TransactionalIDAuthorizationFailed
	}
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	var pending []pendingAck
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
				var ack partition.Ack
				ack, err = h.produceOne(t, rp, req.Acks)
				sp.LogStartOffset = ack.Result.LogStartOffset
				if err == nil {
					sp.BaseOffset, sp.LogAppendTime = ack.Result.BaseOffset, ack.Result.LogAppendTime
					if ack.Pending() {
						pending = append(pending, pendingAck{ack: ack, topic: i, partition: j, name: t.Name})
					}
				}
			}
			if err != nil {
				h.setProduceError(req.Version, &sp, err)
				// By topic only for one that exists, as Kafka counts
				// them: a name a client made up (any bytes, not even
				// UTF-8) is no metric label, and would add a series per
				// name without bound.
				if t != nil {
					h.metrics.Topic(t.Name).FailedProduce.Inc()
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(pending) > 0 {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
		for k, err := range waitAcks(wctx, pending) {
			if err != nil {
				c := pending[k]
				sp := &resp.Topics[c.topic].Partitions[c.partition]
				sp.BaseOffset, sp.LogAppendTime = -1, -1
				h.setProduceError(req.Version, sp, err)
				h.metrics.Topic(c.name).FailedProduce.Inc()
			}
		}
		cancel()
	}
	if req.Acks == partition.AcksNone {
		for i := range resp.Topics {
			for _, sp := range resp.Topics[i].Partitions {
				if sp.ErrorCode != 0 {
					return nil, fmt.Errorf("%w: acks=0 produce to %s-%d failed: %s", server.ErrCloseConnection,
						resp.Topics[i].Topic, sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
				}
			}
		}
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

// pendingAck is an appended batch whose acknowledgement is not complete.
type pendingAck struct {
	ack              partition.Ack
	topic, partition int
	name             string
}

// waitAcks waits for every pending acknowledgement, all under the
// request's one deadline, concurrently (their fsyncs overlap), and returns
// their errors.
func waitAcks(ctx context.Context, pending []pendingAck) []error {
	errs := make([]error, len(pending))
	wait := func(k int) {
		err := pending[k].ack.Wait(ctx)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			err = kerr.RequestTimedOut
		}
		errs[k] = err
	}
	if len(pending) == 1 {
		wait(0)
		return errs
	}
	var wg sync.WaitGroup
	for k := range pending {
		wg.Go(func() { wait(k) })
	}
	wg.Wait()
	return errs
}

// produceOne validates one partition's batch and hands it to its partition.
func (h *Handlers) produceOne(t *broker.Topic, rp *kmsg.ProduceRequestTopicPartition, acks int16) (partition.Ack, error) {
	p, err := h.b.PartitionOf(t, rp.Partition)
	if err != nil {
		return partition.Ack{}, err
	}
	hdr, err := record.Validate(rp.Records)
	if err != nil {
		return partition.Ack{}, err
	}
	n, size := hdr.NumRecords, len(rp.Records)
	ack, err := p.Produce(rp.Records, &hdr, acks, t.AppendConfig())
	if err == nil {
		m := h.metrics.Topic(t.Name)
		m.MessagesIn.Add(float64(n))
		m.BytesIn.Add(float64(size))
	}
	return ack, err
}
