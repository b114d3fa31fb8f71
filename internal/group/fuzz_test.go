package group

import (
	"testing"
	"time"
)

// fuzzRecords splits data into records: a key length byte, the key, a
// value length byte (0xff: a tombstone) and the value, until data ends.
func fuzzRecords(data []byte) []keyValue {
	var recs []keyValue
	for len(data) > 0 {
		n := int(data[0])
		data = data[1:]
		if n > len(data) {
			n = len(data)
		}
		kv := keyValue{key: data[:n]}
		data = data[n:]
		if len(data) > 0 {
			n, data = int(data[0]), data[1:]
			if n != 0xff {
				n = min(n, len(data))
				kv.value, data = data[:n], data[n:]
			}
		}
		recs = append(recs, kv)
	}
	return recs
}

// FuzzGroupReplay replays a __consumer_offsets partition holding a batch
// of arbitrary key/value records and then one offset commit, encoded with
// the coordinator's own encoder, for fuzzer-chosen values. Nothing may
// panic; records the coordinator cannot read are skipped (replay does not
// fail on them); and the commit, last for its key, replays as the entry
// that was encoded (expire time and leader epoch as the record versions
// carry them: v1 with an expire time, v3 with a leader epoch).
func FuzzGroupReplay(f *testing.F) {
	f.Add([]byte{}, "g", "t", int32(0), int64(42), int32(3), "meta", int64(1_700_000_000_000), int64(-1))
	f.Add(append([]byte{byte(len(offsetKey("g", "t", 0)))}, offsetKey("g", "t", 0)...), "g", "t", int32(0), int64(7), int32(-1), "", int64(5), int64(99))
	gk := groupKey("g")
	f.Add(append(append([]byte{byte(len(gk))}, gk...), 3, 0, 3, 0), "g", "u", int32(-1), int64(-1), int32(0), "m", int64(-1), int64(-1))
	f.Add([]byte{2, 0, 9, 0xff, 1, 0}, "", "", int32(0), int64(0), int32(0), "", int64(0), int64(0))
	clock := &manualClock{now: time.UnixMilli(1_700_000_000_000)}
	c := New(testConfig(), &memStore{}, Options{Clock: clock, Logger: discard})
	f.Fuzz(func(t *testing.T, recs []byte, group, topic string, partition int32, offset int64, epoch int32, meta string, commitTime, expireTime int64) {
		if expireTime < -1 {
			expireTime = -1 // -1 means none; the encoder writes v1 for any other
		}
		want := offsetEntry{offset: offset, leaderEpoch: epoch, metadata: meta, commitTime: commitTime, expireTime: expireTime, logOffset: -1}
		if expireTime >= 0 {
			want.leaderEpoch = -1 // v1 has no leader epoch
		}
		log := &memLog{}
		if kvs := fuzzRecords(recs); len(kvs) > 0 {
			if _, _, err := log.Append(encodeBatch(kvs, 1)); err != nil {
				t.Fatalf("the coordinator's batch of %d records: %v", len(kvs), err)
			}
		}
		commit := keyValue{offsetKey(group, topic, partition), offsetValue(&want)}
		if _, _, err := log.Append(encodeBatch([]keyValue{commit}, 2)); err != nil {
			t.Fatal(err)
		}
		groups, err := newShard(c, 0, log).replay()
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		g := groups[group]
		if g == nil {
			t.Fatalf("group %q not replayed", group)
		}
		got := g.offsets[topicPartition{topic, partition}]
		if got == nil || *got != want {
			t.Fatalf("commit %+v replayed as %+v", want, got)
		}
	})
}
