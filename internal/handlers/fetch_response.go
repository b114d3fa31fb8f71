package handlers

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/partition"
	"github.com/gregor-dev/gregor/internal/protocol"
	"github.com/gregor-dev/gregor/internal/server"
)

// fetchResponse is a Fetch response whose record batches stay in segment
// files until the connection writes them: AppendStream encodes everything
// else and splices the files' byte ranges in with sendfile, so record bytes
// are not copied through user space, except when they are protocol.MaxInline
// or less in all: then they are read into the response, which goes out in
// one write instead of three (see protocol.WriteStream). AppendTo
// (kmsg.Response) reads them into memory, for callers that need bytes.
//
// AppendStream writes exactly what kmsg's FetchResponse.AppendTo writes for
// versions 4-18 (TestHandlersFetchEncodingMatchesKmsg holds it to that);
// kmsg has no way to leave a field's bytes out, which is the only reason
// this encoder exists.
type fetchResponse struct {
	*kmsg.FetchResponse
	records    [][]partition.Records // [topic][partition], alongside Topics
	topicNames []string              // the topics' names (v13+ requests name them by id), for metrics
}

var (
	_ server.Streamer  = (*fetchResponse)(nil)
	_ protocol.Inliner = partition.Records{} // small record bytes go out in one write
)

// AppendTo encodes the response with the record bytes read into memory.
func (r *fetchResponse) AppendTo(dst []byte) []byte {
	for ti := range r.Topics {
		for pi := range r.Topics[ti].Partitions {
			if s := r.records[ti][pi]; s.Len() > 0 {
				b, err := s.AppendTo(nil)
				if err != nil {
					// The range was valid when located; a failed read here
					// means the segment went away: answer no data, and the
					// client fetches again.
					b = []byte{}
				}
				r.Topics[ti].Partitions[pi].RecordBatches = b
				r.records[ti][pi] = partition.Records{}
			}
		}
	}
	return r.FetchResponse.AppendTo(dst)
}

// Defaults of the tagged partition fields: a field equal to its default is
// not encoded.
var (
	defaultPartition = kmsg.NewFetchResponseTopicPartition()
)

// AppendStream implements server.Streamer.
func (r *fetchResponse) AppendStream(dst []byte) ([]byte, []server.Chunk) {
	var chunks []server.Chunk
	start := len(dst)
	v := r.Version
	flex := v >= 12
	be := binary.BigEndian
	if v >= 1 {
		dst = be.AppendUint32(dst, uint32(r.ThrottleMillis))
	}
	if v >= 7 {
		dst = be.AppendUint16(dst, uint16(r.ErrorCode))
		dst = be.AppendUint32(dst, uint32(r.SessionID))
	}
	dst = appendArrayLen(dst, len(r.Topics), flex)
	for ti := range r.Topics {
		t := &r.Topics[ti]
		if v <= 12 {
			dst = appendString(dst, t.Topic, flex)
		} else {
			dst = append(dst, t.TopicID[:]...)
		}
		dst = appendArrayLen(dst, len(t.Partitions), flex)
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			dst = be.AppendUint32(dst, uint32(p.Partition))
			dst = be.AppendUint16(dst, uint16(p.ErrorCode))
			dst = be.AppendUint64(dst, uint64(p.HighWatermark))
			if v >= 4 {
				dst = be.AppendUint64(dst, uint64(p.LastStableOffset))
			}
			if v >= 5 {
				dst = be.AppendUint64(dst, uint64(p.LogStartOffset))
			}
			if v >= 4 {
				dst = appendNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil, flex)
				for _, a := range p.AbortedTransactions {
					dst = be.AppendUint64(dst, uint64(a.ProducerID))
					dst = be.AppendUint64(dst, uint64(a.FirstOffset))
					if flex {
						dst = append(dst, 0)
					}
				}
			}
			if v >= 11 {
				dst = be.AppendUint32(dst, uint32(p.PreferredReadReplica))
			}
			switch s := r.records[ti][pi]; {
			case s.Len() > 0:
				dst = appendBytesLen(dst, int(s.Len()), false, flex)
				chunks = append(chunks, server.Chunk{At: len(dst) - start, Body: s})
			default:
				dst = appendBytesLen(dst, len(p.RecordBatches), p.RecordBatches == nil, flex)
				dst = append(dst, p.RecordBatches...)
			}
			if flex {
				dst = appendPartitionTags(dst, p)
			}
		}
		if flex {
			dst = append(dst, 0)
		}
	}
	if flex {
		dst = appendResponseTags(dst, r.Brokers)
	}
	return dst, chunks
}

func appendPartitionTags(dst []byte, p *kmsg.FetchResponseTopicPartition) []byte {
	be := binary.BigEndian
	d, c, s := p.DivergingEpoch, p.CurrentLeader, p.SnapshotID
	dd, dc, ds := defaultPartition.DivergingEpoch, defaultPartition.CurrentLeader, defaultPartition.SnapshotID
	hasD := d.Epoch != dd.Epoch || d.EndOffset != dd.EndOffset
	hasC := c.LeaderID != dc.LeaderID || c.LeaderEpoch != dc.LeaderEpoch
	hasS := s.EndOffset != ds.EndOffset || s.Epoch != ds.Epoch
	n := 0
	for _, has := range [3]bool{hasD, hasC, hasS} {
		if has {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	if hasD {
		dst = append(dst, 0, 13) // tag 0, size: int32 + int64 + no tags
		dst = be.AppendUint32(dst, uint32(d.Epoch))
		dst = be.AppendUint64(dst, uint64(d.EndOffset))
		dst = append(dst, 0)
	}
	if hasC {
		dst = append(dst, 1, 9) // tag 1, size: int32 + int32 + no tags
		dst = be.AppendUint32(dst, uint32(c.LeaderID))
		dst = be.AppendUint32(dst, uint32(c.LeaderEpoch))
		dst = append(dst, 0)
	}
	if hasS {
		dst = append(dst, 2, 13) // tag 2, size: int64 + int32 + no tags
		dst = be.AppendUint64(dst, uint64(s.EndOffset))
		dst = be.AppendUint32(dst, uint32(s.Epoch))
		dst = append(dst, 0)
	}
	return dst
}

// appendResponseTags writes the top-level tagged fields: the node endpoints
// (tag 0, KIP-951) when there are any.
func appendResponseTags(dst []byte, brokers []kmsg.FetchResponseBroker) []byte {
	if len(brokers) == 0 {
		return append(dst, 0)
	}
	var body []byte
	body = appendArrayLen(body, len(brokers), true)
	for _, b := range brokers {
		body = binary.BigEndian.AppendUint32(body, uint32(b.NodeID))
		body = appendString(body, b.Host, true)
		body = binary.BigEndian.AppendUint32(body, uint32(b.Port))
		if b.Rack == nil {
			body = append(body, 0)
		} else {
			body = appendString(body, *b.Rack, true)
		}
		body = append(body, 0)
	}
	dst = append(dst, 1, 0) // one tag: 0
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

func appendArrayLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return binary.AppendUvarint(dst, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

func appendNullableArrayLen(dst []byte, n int, null, flex bool) []byte {
	switch {
	case null && flex:
		return append(dst, 0)
	case null:
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	return appendArrayLen(dst, n, flex)
}

func appendBytesLen(dst []byte, n int, null, flex bool) []byte {
	return appendNullableArrayLen(dst, n, null, flex)
}

func appendString(dst []byte, s string, flex bool) []byte {
	if flex {
		dst = binary.AppendUvarint(dst, uint64(len(s))+1)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	}
	return append(dst, s...)
}
