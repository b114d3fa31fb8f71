// Package verify is the workload generator and checker behind `gregor
// verify`: producers write values that name their run, producer and
// sequence number, consumers read them back while they are written, a
// final read sees every partition from its start to its high watermark,
// and Check looks for lost, unseen, duplicated, reordered and aborted
// records, offsets read with two values, and committed offsets going
// backwards.
//
// Invariants:
//   - The workload is a pure Kafka client (franz-go): it works against any
//     Kafka-compatible cluster and knows nothing of Gregor.
//   - The workload only records what happened, in a History; Check is a
//     pure function of that History, so every anomaly can be tested by
//     feeding it a broken history.
//   - Values of other runs (a topic reused) take part only in the checks
//     per offset (one offset, one value); they are never lost, duplicated
//     or reordered.
package verify

import (
	"fmt"
	"strconv"
	"strings"
)

// Outcome is what a producer learnt about one value it sent.
type Outcome uint8

// Outcomes. Only Acked values must be read; only Failed and Aborted values
// must not be.
const (
	// Pending: sent, and no answer by the end of the run.
	Pending Outcome = iota
	// Acked: acknowledged by the cluster (in a committed transaction with
	// --transactional).
	Acked
	// Failed: the cluster refused the value (a non-retriable error code on
	// the first answer): it must never be read.
	Failed
	// Indeterminate: the send failed in a way that does not say whether
	// the value was written (a timeout, a retried request, a client
	// closed with the value in flight, a failed commit of a transaction).
	Indeterminate
	// Aborted: written in a transaction that was aborted: it must not be
	// read under read_committed.
	Aborted
)

var outcomeNames = [...]string{"pending", "acked", "failed", "indeterminate", "aborted"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// Send is one value a producer sent and its outcome. Partition and Offset
// are where the acknowledgement placed it; Offset is -1 when unknown (acks
// 0, or not acknowledged).
type Send struct {
	Value     string  `json:"value"`
	Outcome   Outcome `json:"outcome"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Err       string  `json:"error,omitempty"`
}

// Read is one record a reader saw. Reader names the reader ("c0", "g1",
// "final"); the reads of one reader are in the order it saw them.
type Read struct {
	Reader    string `json:"reader"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Value     string `json:"value"`
}

// Commit is one observation of a group's committed offset of a
// partition, in the order observed.
type Commit struct {
	Group     string `json:"group"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	// Reset marks a commit that verify itself moved back on purpose (a
	// stale offset beyond the end of a recreated topic, reset to the
	// start): it becomes the new baseline instead of an anomaly.
	Reset bool `json:"reset,omitempty"`
}

// History is everything a run did and saw.
type History struct {
	// Run is the id in this run's values; values with another run id
	// belong to earlier runs on the same topic.
	Run string `json:"run"`
	// ReadCommitted says readers read under read_committed, so aborted
	// transactions must not be seen.
	ReadCommitted bool     `json:"read_committed"`
	Sends         []Send   `json:"sends"`
	Reads         []Read   `json:"reads"`
	Commits       []Commit `json:"commits"`
}

// valueID identifies a value of a run: its producer and sequence number.
type valueID struct {
	producer int
	seq      int64
}

// FormatValue is the value a run's producer writes for its seq-th record:
// "RUN-pPRODUCER-SEQ".
func FormatValue(run string, producer int, seq int64) string {
	return run + "-p" + strconv.Itoa(producer) + "-" + strconv.FormatInt(seq, 10)
}

// parseValue reads a value of run; ok is false for anything else (other
// runs, foreign records).
func parseValue(run, v string) (id valueID, ok bool) {
	rest, found := strings.CutPrefix(v, run+"-p")
	if !found {
		return id, false
	}
	p, s, found := strings.Cut(rest, "-")
	if !found {
		return id, false
	}
	producer, err := strconv.Atoi(p)
	if err != nil || producer < 0 {
		return id, false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 0 {
		return id, false
	}
	return valueID{producer, seq}, true
}
