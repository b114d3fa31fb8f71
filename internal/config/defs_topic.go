package config

import (
	"fmt"
	"sort"
)

// topicKey defines one topic-level config and the broker keys it falls back
// to when the topic has no override.
type topicKey struct {
	name   string
	typ    Type
	broker chain // broker synonyms, highest precedence first
	rule   rule
	doc    string
}

func (k *topicKey) spec() spec { return spec{typ: k.typ, rule: k.rule} }

// Rules shared by a topic config and its broker synonym.
var (
	cleanupPolicies  = in("delete", "compact")
	compressionTypes = in("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
	timestampTypes   = in("CreateTime", "LogAppendTime")
	ratio            = floatRange{0, 1}
)

// topicTable lists the topic configs Gregor supports, with Kafka's names,
// types and broker synonyms.
var topicTable = []topicKey{
	{"cleanup.policy", TypeList, same("log.cleanup.policy"), cleanupPolicies, "What to do with old segments: delete them, compact them by key, or both."},
	{"compression.type", TypeString, same("compression.type"), compressionTypes, "Codec of stored batches; producer keeps whatever the producer used."},
	{"delete.retention.ms", TypeLong, same("log.cleaner.delete.retention.ms"), atLeast(0), "How long tombstones stay in a compacted log so consumers see the delete."},
	{"file.delete.delay.ms", TypeLong, same("log.segment.delete.delay.ms"), atLeast(0), "Wait between a segment being dropped from the log and its files being removed."},
	{"flush.messages", TypeLong, same("log.flush.interval.messages"), atLeast(1), "Records appended before the partition is forced to disk."},
	{"flush.ms", TypeLong, flushMsChain, atLeast(0), "Longest time appended data may stay unflushed."},
	{"index.interval.bytes", TypeInt, same("log.index.interval.bytes"), atLeast(0), "Log bytes between two entries of the sparse offset index."},
	{"max.compaction.lag.ms", TypeLong, same("log.cleaner.max.compaction.lag.ms"), atLeast(1), "Age after which the log becomes due for compaction regardless of the dirty ratio."},
	{"max.message.bytes", TypeInt, same("message.max.bytes"), atLeast(0), "Largest record batch, after compression, the topic accepts."},
	{"message.downconversion.enable", TypeBoolean, same("log.message.downconversion.enable"), nil, "Convert batches to older formats for fetch requests too old to read v2."},
	{"message.timestamp.after.max.ms", TypeLong, same("log.message.timestamp.after.max.ms"), atLeast(0), "How far ahead of the broker clock a CreateTime timestamp may be."},
	{"message.timestamp.before.max.ms", TypeLong, same("log.message.timestamp.before.max.ms"), atLeast(0), "How far behind the broker clock a CreateTime timestamp may be."},
	{"message.timestamp.type", TypeString, same("log.message.timestamp.type"), timestampTypes, "Stored timestamp: the producer's (CreateTime) or the broker's append time (LogAppendTime)."},
	{"min.cleanable.dirty.ratio", TypeDouble, same("log.cleaner.min.cleanable.ratio"), ratio, "Share of not-yet-compacted bytes the log needs before it is compacted."},
	{"min.compaction.lag.ms", TypeLong, same("log.cleaner.min.compaction.lag.ms"), atLeast(0), "Age a record must reach before compaction may remove it."},
	{"min.insync.replicas", TypeInt, same("min.insync.replicas"), atLeast(1), "In-sync replicas needed for an acks=all write to succeed."},
	{"preallocate", TypeBoolean, same("log.preallocate"), nil, "Reserve the full segment size on disk when a segment is created."},
	{"retention.bytes", TypeLong, same("log.retention.bytes"), nil, "Size a partition may grow to before its oldest segments are deleted; negative for no limit."},
	{"retention.ms", TypeLong, retentionChain, atLeast(-1), "Age after which closed segments are deleted, -1 for never."},
	{"segment.bytes", TypeInt, same("log.segment.bytes"), atLeast(14), "Size at which the active segment is closed and a new one started."},
	{"segment.index.bytes", TypeInt, same("log.index.size.max.bytes"), atLeast(4), "Largest offset or time index file; a full index rolls the segment."},
	{"segment.jitter.ms", TypeLong, rollJitterChain, atLeast(0), "Bound of a random amount taken off segment.ms so partitions do not roll together."},
	{"segment.ms", TypeLong, rollChain, atLeast(1), "Age at which the active segment is rolled even when not full."},
	{"unclean.leader.election.enable", TypeBoolean, same("unclean.leader.election.enable"), nil, "Let an out-of-sync replica become leader, at the cost of losing acknowledged data."},
}

var (
	topicIndex map[string]int
	topicNames []string // sorted
)

func initTopicTables() {
	topicIndex = make(map[string]int, len(topicTable))
	for i := range topicTable {
		k := &topicTable[i]
		if _, dup := topicIndex[k.name]; dup {
			panic("config: duplicate topic key " + k.name)
		}
		topicIndex[k.name] = i
		topicNames = append(topicNames, k.name)
		// Resolution through the broker must always end in a value of a
		// compatible type; a mistake here is a bug in the tables.
		for _, l := range k.broker {
			bi, ok := brokerIndex[l.key]
			if !ok {
				panic(fmt.Sprintf("config: %s: unknown broker synonym %s", k.name, l.key))
			}
			bt := brokerTable[bi].typ
			if bt != k.typ && !(bt.integer() && k.typ.integer()) {
				panic(fmt.Sprintf("config: %s (%v) and its synonym %s (%v) differ in type", k.name, k.typ, l.key, bt))
			}
		}
		if brokerDefaults[brokerIndex[k.broker[len(k.broker)-1].key]].null {
			panic("config: " + k.name + " has no broker default to fall back to")
		}
	}
	sort.Strings(topicNames)
}

// IsTopicConfig reports whether key is a topic config Gregor supports.
func IsTopicConfig(key string) bool {
	_, ok := topicIndex[key]
	return ok
}

// TopicConfigNames returns every supported topic config name, sorted.
func TopicConfigNames() []string { return append([]string(nil), topicNames...) }

// ValidateTopicConfig checks one topic config override. An unknown key gives
// an error wrapping ErrUnknownKey, a bad value one wrapping ErrInvalidValue.
func ValidateTopicConfig(key, value string) error {
	_, err := parseTopicValue(key, value)
	return err
}

func parseTopicValue(key, raw string) (value, error) {
	i, ok := topicIndex[key]
	if !ok {
		return value{}, &Error{Key: key, Err: ErrUnknownKey}
	}
	v, reason := topicTable[i].spec().parse(raw)
	if reason != "" {
		return value{}, &Error{Key: key, Value: raw, Reason: reason, Err: ErrInvalidValue}
	}
	return v, nil
}
