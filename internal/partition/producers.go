package partition

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/storage"
)

// maxCachedBatches is how many recent batches per producer are remembered for
// duplicate detection, as in Kafka: a producer has at most five requests in
// flight per partition.
const maxCachedBatches = 5

// batchMeta identifies one appended idempotent batch.
type batchMeta struct {
	FirstSeq    int32 `json:"first_seq"`
	LastSeq     int32 `json:"last_seq"`
	FirstOffset int64 `json:"first_offset"`
	Timestamp   int64 `json:"timestamp"`
}

// producerEntry is the state of one producer id on this partition: its epoch
// and the metadata of its last few batches (the newest last).
type producerEntry struct {
	ID      int64       `json:"id"`
	Epoch   int16       `json:"epoch"`
	Batches []batchMeta `json:"batches"`
}

func (e *producerEntry) lastSeq() int32 {
	return e.Batches[len(e.Batches)-1].LastSeq
}

// duplicateOf returns the cached batch with the same sequence range, if any.
func (e *producerEntry) duplicateOf(h *record.Header) (batchMeta, bool) {
	if e.Epoch != h.ProducerEpoch {
		return batchMeta{}, false
	}
	for _, b := range e.Batches {
		if b.FirstSeq == h.BaseSequence && b.LastSeq == h.LastSequence() {
			return b, true
		}
	}
	return batchMeta{}, false
}

func (e *producerEntry) add(m batchMeta) {
	if len(e.Batches) == maxCachedBatches {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:maxCachedBatches-1]
	}
	e.Batches = append(e.Batches, m)
}

// producers tracks idempotent producer state. Not safe for concurrent use:
// the partition's append mutex guards it.
type producers map[int64]*producerEntry

// check decides what to do with an idempotent batch, with Kafka's rules
// (ProducerAppendInfo): an older epoch is fenced; a batch already appended is
// a duplicate answered with its first offset; a new epoch must start at
// sequence 0; within an epoch, the sequence must follow the last one. An
// unknown producer (state expired or lost with deleted records) may start
// anywhere.
func (ps producers) check(h *record.Header) (dup batchMeta, isDup bool, err error) {
	e, ok := ps[h.ProducerID]
	if !ok || len(e.Batches) == 0 {
		return batchMeta{}, false, nil
	}
	if h.ProducerEpoch < e.Epoch {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.Epoch)
	}
	if m, ok := e.duplicateOf(h); ok {
		return m, true, nil
	}
	if h.ProducerEpoch > e.Epoch {
		if h.BaseSequence != 0 {
			return batchMeta{}, false, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return batchMeta{}, false, nil
	}
	if want := record.IncSequence(e.lastSeq(), 1); h.BaseSequence != want {
		return batchMeta{}, false, fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, want, h.BaseSequence)
	}
	return batchMeta{}, false, nil
}

// expire forgets producers whose newest batch's timestamp is at least
// expirationMs before now (Kafka's ProducerStateManager), and returns how
// many.
func (ps producers) expire(now, expirationMs int64) int {
	n := 0
	for id, e := range ps {
		if len(e.Batches) == 0 || now-e.Batches[len(e.Batches)-1].Timestamp >= expirationMs {
			delete(ps, id)
			n++
		}
	}
	return n
}

// update records an appended batch.
func (ps producers) update(h *record.Header) {
	e, ok := ps[h.ProducerID]
	if !ok {
		e = &producerEntry{ID: h.ProducerID}
		ps[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.Epoch {
		e.Epoch = h.ProducerEpoch
		e.Batches = e.Batches[:0]
	}
	e.add(batchMeta{FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(), FirstOffset: h.BaseOffset, Timestamp: h.MaxTimestamp})
}

// snapshotFile is the producer-state snapshot in the partition directory:
// JSON {"offset": N, "producers": [...]} meaning "the state after applying
// every batch below offset N". It is written atomically (temp file, fsync,
// rename, fsync of the directory).
const snapshotFile = "producer-state.json"

type snapshot struct {
	Offset    int64            `json:"offset"`
	Producers []*producerEntry `json:"producers"`
}

func writeSnapshot(fsys storage.FS, dir string, offset int64, ps producers) error {
	s := snapshot{Offset: offset, Producers: make([]*producerEntry, 0, len(ps))}
	for _, e := range ps {
		s.Producers = append(s.Producers, e)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return storage.WriteFileAtomic(fsys, filepath.Join(dir, snapshotFile), b)
}

// readSnapshot loads the snapshot, or returns offset 0 and empty state when
// there is none or it cannot be read (the caller then rebuilds from the log).
func readSnapshot(fsys storage.FS, dir string) (int64, producers, error) {
	ps := producers{}
	f, err := fsys.OpenFile(filepath.Join(dir, snapshotFile), os.O_RDONLY, 0)
	if err != nil {
		if errorsIsNotExist(err) {
			return 0, ps, nil
		}
		return 0, ps, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, ps, err
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return 0, ps, err
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, producers{}, fmt.Errorf("partition: producer snapshot: %w", err)
	}
	// JSON that parses may still describe state no append made: a null
	// entry (which would panic below), more batches than are cached (add
	// would never trim them), a negative offset.
	if s.Offset < 0 {
		return 0, producers{}, fmt.Errorf("partition: producer snapshot: offset %d", s.Offset)
	}
	for _, e := range s.Producers {
		switch {
		case e == nil:
			return 0, producers{}, errors.New("partition: producer snapshot: null producer entry")
		case len(e.Batches) > maxCachedBatches:
			return 0, producers{}, fmt.Errorf("partition: producer snapshot: producer %d has %d batches, more than %d", e.ID, len(e.Batches), maxCachedBatches)
		case len(e.Batches) > 0:
			ps[e.ID] = e
		}
	}
	return s.Offset, ps, nil
}

func errorsIsNotExist(err error) bool {
	return err != nil && (os.IsNotExist(err) || err == fs.ErrNotExist)
}
