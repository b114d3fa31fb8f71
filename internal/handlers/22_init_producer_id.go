package handlers

// InitProducerId, key 22, versions 0-5.
//
// v2 flexible; v3 (KIP-360) lets a producer pass its current id and epoch;
// v4 returns PRODUCER_FENCED. For an idempotent (non-transactional)
// producer, Kafka always hands out a fresh producer id at epoch 0, and so do
// we. Transactions are not implemented yet: a transactional id is answered
// UNSUPPORTED_VERSION, the code Kafka clients read as "this broker does not
// support transactions".
//
// Ids come from the block of ids this broker holds (fetched ahead of need,
// broker/pids.go), so no quorum round trip is on this path; without a block
// in time the answer is COORDINATOR_LOAD_IN_PROGRESS, which clients retry.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) initProducerID(ctx context.Context, _ *server.Request, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil
	}
	id, err := h.b.AllocateProducerID(ctx)
	if err != nil {
		resp.ErrorCode = h.errCode(err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
