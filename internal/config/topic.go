package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Topic is one topic's configuration: its overrides, resolved through the
// broker for every key it does not override. The overrides never change
// (make a new Topic to change them); broker values are read at each call, so
// dynamic broker changes show through at once.
type Topic struct {
	broker    *Broker
	overrides map[string]string // as given, including any that failed to parse
	parsed    map[string]value  // the valid overrides
	err       error
}

// NewTopic returns the configuration of a topic with the given overrides.
// Overrides are expected to have passed ValidateTopicConfig; one that does
// not is kept in Overrides but ignored (the broker value applies) and
// reported by Err.
func NewTopic(b *Broker, overrides map[string]string) *Topic {
	t := &Topic{broker: b, overrides: maps.Clone(overrides), parsed: make(map[string]value, len(overrides))}
	if t.overrides == nil {
		t.overrides = map[string]string{}
	}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(overrides)) {
		v, err := parseTopicValue(key, overrides[key])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.parsed[key] = v
	}
	t.err = errors.Join(errs...)
	return t
}

// ValidateTopicConfigs checks a complete set of topic overrides against the
// broker: each key and value, then the rules that span keys (the resolved
// min.compaction.lag.ms may not exceed max.compaction.lag.ms).
func ValidateTopicConfigs(b *Broker, overrides map[string]string) error {
	t := NewTopic(b, overrides)
	if t.err != nil {
		return t.err
	}
	if lo, hi := t.Int64("min.compaction.lag.ms"), t.Int64("max.compaction.lag.ms"); lo > hi {
		v, _ := t.Get("min.compaction.lag.ms")
		reason := fmt.Sprintf("must not exceed max.compaction.lag.ms (%d)", hi)
		return &Error{Key: "min.compaction.lag.ms", Value: v, Reason: reason, Err: ErrInvalidValue}
	}
	return nil
}

// Err reports the overrides NewTopic ignored, or nil.
func (t *Topic) Err() error { return t.err }

// Overrides returns a copy of the topic's overrides.
func (t *Topic) Overrides() map[string]string { return maps.Clone(t.overrides) }

// Broker returns the broker configuration the topic resolves through.
func (t *Topic) Broker() *Broker { return t.broker }

// resolve returns key's value and source in the broker snapshot st.
func (t *Topic) resolve(st *state, k *topicKey) (value, Source) {
	if v, ok := t.parsed[k.name]; ok {
		return v, SourceTopicConfig
	}
	if len(k.broker) == 1 {
		i := brokerIndex[k.broker[0].key]
		return st.eff[i], st.src[i]
	}
	n, src, _ := st.resolve(k.broker)
	return intValue(n), src
}

// get panics on an unknown key or (with want) a key of another type: both
// are programming errors.
func (t *Topic) get(key string, want ...Type) (value, Source) {
	i, ok := topicIndex[key]
	if !ok {
		panic(fmt.Sprintf("config: unknown topic key %q", key))
	}
	k := &topicTable[i]
	if len(want) > 0 && !slices.Contains(want, k.typ) {
		panic(fmt.Sprintf("config: topic key %q is %v, not %v", key, k.typ, want))
	}
	return t.resolve(t.broker.cur.Load(), k)
}

// Get returns key's value and where it comes from: the topic override
// (SourceTopicConfig), else the broker key that supplies it (its own source:
// dynamic, static or default).
func (t *Topic) Get(key string) (value string, src Source) {
	v, src := t.get(key)
	return v.s, src
}

// String returns key's value in Kafka's string form.
func (t *Topic) String(key string) string { v, _ := t.get(key); return v.s }

// Int returns an INT key's value.
func (t *Topic) Int(key string) int32 { v, _ := t.get(key, TypeInt, TypeShort); return int32(v.i) }

// Int64 returns an INT or LONG key's value.
func (t *Topic) Int64(key string) int64 {
	v, _ := t.get(key, TypeInt, TypeShort, TypeLong)
	return v.i
}

// Bool returns a BOOLEAN key's value.
func (t *Topic) Bool(key string) bool { v, _ := t.get(key, TypeBoolean); return v.b }

// Float returns a DOUBLE key's value.
func (t *Topic) Float(key string) float64 { v, _ := t.get(key, TypeDouble); return v.f }

// List returns a LIST key's elements.
func (t *Topic) List(key string) []string {
	v, _ := t.get(key, TypeList)
	return slices.Clone(v.list)
}

// SegmentMs returns segment.ms, falling back to log.roll.ms, log.roll.hours.
func (t *Topic) SegmentMs() int64 { return t.Int64("segment.ms") }

// RetentionMs returns retention.ms, falling back to log.retention.ms,
// .minutes, .hours; -1 means unlimited.
func (t *Topic) RetentionMs() int64 { return t.Int64("retention.ms") }

// Entries describes every topic config, sorted by name, as Kafka's
// DescribeConfigs does for a TOPIC resource: the effective value, its source,
// and synonyms (the override first, then the primary broker synonym and its
// unit variants in each broker source, then the default).
func (t *Topic) Entries() []Entry {
	st := t.broker.cur.Load()
	out := make([]Entry, 0, len(topicNames))
	for _, name := range topicNames {
		k := &topicTable[topicIndex[name]]
		v, _ := t.resolve(st, k)
		primary := k.broker[0].key
		syn := st.synonyms(primary, brokerSynonyms(primary))
		if ov, ok := t.parsed[name]; ok {
			syn = append([]Synonym{{Name: name, Value: ov.s, Source: SourceTopicConfig}}, syn...)
		}
		out = append(out, newEntry(name, k.typ, v, syn, false, k.doc))
	}
	return out
}
