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
// acks=0 sends no response; acks=1 and acks=-1 answer once the batch is in
// the log. A single broker is its partitions' whole ISR, so acks=-1 is
// refused with NOT_ENOUGH_REPLICAS only when min.insync.replicas > 1.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) produce(_ context.Context, _ *server.Request, req *kmsg.ProduceRequest) (kmsg.Response, error) {
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
				err = h.produceOne(t, rp, req.Acks, &sp)
			}
			if err != nil {
				sp.ErrorCode = h.errCode(err)
				if req.Version >= 8 {
					sp.ErrorMessage = errMessage(err)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

func (h *Handlers) produceOne(t *broker.Topic, rp *kmsg.ProduceRequestTopicPartition, acks int16, sp *kmsg.ProduceResponseTopicPartition) error {
	_, p, err := h.b.Partition(t.Name, rp.Partition)
	if err != nil {
		return err
	}
	cfg := t.AppendConfig()
	if acks == -1 && cfg.MinInsyncReplicas > 1 {
		return kerr.NotEnoughReplicas
	}
	hdr, err := record.Validate(rp.Records)
	if err != nil {
		return err
	}
	res, err := p.Append(rp.Records, &hdr, cfg)
	sp.LogStartOffset = res.LogStartOffset
	if err != nil {
		return err
	}
	sp.BaseOffset, sp.LogAppendTime = res.BaseOffset, res.LogAppendTime
	return nil
}
