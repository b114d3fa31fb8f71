package group

// Records of __consumer_offsets, in Kafka's formats. Every key and value
// starts with an int16 version:
//
//	key v0, v1        OffsetCommitKey     group, topic, partition
//	key v2            GroupMetadataKey    group
//	value (offsets)   OffsetCommitValue   v3: offset, leader epoch, metadata,
//	                                      commit timestamp; v1 (written only
//	                                      when the commit set a retention):
//	                                      offset, metadata, commit and expire
//	                                      timestamps
//	value (group)     GroupMetadataValue  v3: protocol type, generation,
//	                                      protocol, leader, state timestamp,
//	                                      members (id, instance id, client id
//	                                      and host, timeouts, subscription,
//	                                      assignment)
//
// A null value is a tombstone. Records are written uncompressed in one
// RecordBatch v2 per operation: base offset 0 (the log assigns it), no
// producer id, CreateTime timestamps set to the coordinator's clock.

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/record"
)

// Key versions.
const (
	offsetKeyVersion = 1 // OffsetCommitKey: 0 and 1 are the same
	groupKeyVersion  = 2
)

// keyValue is one record; a nil value is a tombstone.
type keyValue struct {
	key, value []byte
}

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

func offsetValue(o *offsetEntry) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitTime
	if o.expireTime >= 0 {
		// Only v1 carries an expire timestamp (and no leader epoch).
		v.Version, v.ExpireTimestamp = 1, o.expireTime
	}
	return v.AppendTo(nil)
}

// groupValue encodes g as it stands after a rebalance, with each member's
// assignment taken from assignment (members missing from it have none).
func groupValue(g *group, assignment map[string][]byte) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocolName != "" {
		name := g.protocolName
		v.Protocol = &name
	}
	if g.leader != "" {
		leader := g.leader
		v.Leader = &leader
	}
	v.CurrentStateTimestamp = -1
	if !g.stateTime.IsZero() {
		v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	}
	for _, m := range g.memberList() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID = m.id, m.instanceID
		vm.ClientID, vm.ClientHost = m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = m.rebalanceTimeoutMs, m.sessionTimeoutMs
		vm.Subscription = m.metadata(g.protocolName)
		vm.Assignment = assignment[m.id]
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// encodeBatch builds one uncompressed RecordBatch v2 holding recs, stamped
// with the CreateTime ts (ms).
func encodeBatch(recs []keyValue, ts int64) []byte {
	b := make([]byte, record.HeaderSize, record.HeaderSize+64*len(recs))
	for i, r := range recs {
		kr := kmsg.Record{OffsetDelta: int32(i), Key: r.key, Value: r.value}
		kr.Length = int32(len(kr.AppendTo(nil)) - 1) // everything after the (1-byte, for 0) length
		b = kr.AppendTo(b)
	}
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)                     // base offset
	be.PutUint32(b[8:], uint32(len(b)-12))     // batch length
	be.PutUint32(b[12:], 0xffffffff)           // partition leader epoch: stamped by the log
	b[16] = 2                                  // magic
	be.PutUint16(b[21:], 0)                    // attributes: no codec, CreateTime
	be.PutUint32(b[23:], uint32(len(recs)-1))  // last offset delta
	be.PutUint64(b[27:], uint64(ts))           // base timestamp
	be.PutUint64(b[35:], uint64(ts))           // max timestamp
	be.PutUint64(b[43:], 0xffffffffffffffff)   // producer id -1
	be.PutUint16(b[51:], 0xffff)               // producer epoch -1
	be.PutUint32(b[53:], 0xffffffff)           // base sequence -1
	be.PutUint32(b[57:], uint32(len(recs)))    // record count
	be.PutUint32(b[17:], record.ComputeCRC(b)) // crc
	return b
}

// eachRecord calls fn with the key and value of every record of the data
// batches in buf (a run of whole batches as a partition log returns them)
// and returns the offset after the last whole batch. Control batches are
// skipped; so are transactional batches, which only a transaction
// coordinator (not implemented) writes.
func eachRecord(buf []byte, from int64, fn func(key, value []byte)) (next int64, err error) {
	next = from
	for len(buf) > 0 {
		h, batch, rest, err := record.Next(buf)
		if err != nil {
			return next, err
		}
		buf = rest
		if h.NextOffset() > next {
			next = h.NextOffset()
		}
		if h.Control() || h.Transactional() {
			continue
		}
		body, err := record.Records(batch)
		if err != nil {
			return next, err
		}
		for i := int32(0); i < h.NumRecords; i++ {
			l, w := binary.Varint(body)
			if w <= 0 || l < 0 || l > int64(len(body)-w) {
				return next, fmt.Errorf("%w: record %d of the batch at %d", record.ErrCorrupt, i, h.BaseOffset)
			}
			var kr kmsg.Record
			if err := kr.ReadFrom(body[:w+int(l)]); err != nil {
				return next, fmt.Errorf("%w: record %d of the batch at %d: %w", record.ErrCorrupt, i, h.BaseOffset, err)
			}
			body = body[w+int(l):]
			if h.BaseOffset+int64(kr.OffsetDelta) < from {
				continue
			}
			fn(kr.Key, kr.Value)
		}
	}
	return next, nil
}
