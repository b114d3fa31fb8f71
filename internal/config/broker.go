package config

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Broker is the broker's configuration. It is safe for concurrent use:
// readers load an immutable snapshot without locking; writers (Set,
// UpdateDynamic) serialise on mu and publish a new snapshot only after it
// passes validation.
type Broker struct {
	mu  sync.Mutex // serialises writers; readers never take it
	cur atomic.Pointer[state]

	ignoredEnv []string // GREGOR_* variables naming no key; set by Load
}

// layer holds the values one source sets, keyed by canonical key name (an
// alias is stored under the key it stands for).
type layer map[string]value

// state is one immutable snapshot of the broker configuration.
type state struct {
	dynBroker  layer // DYNAMIC_BROKER_CONFIG
	dynDefault layer // DYNAMIC_DEFAULT_BROKER_CONFIG
	static     layer // STATIC_BROKER_CONFIG: file, environment, --set, flags
	eff        []value
	src        []Source
	net        *network // the listener and quorum keys resolved, by check
}

type sourcedLayer struct {
	m   layer
	src Source
}

// layers returns the sources in precedence order, highest first.
func (st *state) layers() [4]sourcedLayer {
	return [4]sourcedLayer{
		{st.dynBroker, SourceDynamicBrokerConfig},
		{st.dynDefault, SourceDynamicDefaultBrokerConfig},
		{st.static, SourceStaticBrokerConfig},
		{defaultLayer, SourceDefaultConfig},
	}
}

func newState() *state {
	st := &state{dynBroker: layer{}, dynDefault: layer{}, static: layer{}}
	st.recompute()
	if err := st.check(); err != nil {
		panic("config: the defaults do not pass their own checks: " + err.Error())
	}
	return st
}

func (st *state) clone() *state {
	return &state{
		dynBroker:  maps.Clone(st.dynBroker),
		dynDefault: maps.Clone(st.dynDefault),
		static:     maps.Clone(st.static),
	}
}

// recompute derives the effective value and source of every key.
func (st *state) recompute() {
	st.eff = make([]value, len(brokerTable))
	st.src = make([]Source, len(brokerTable))
	for i := range brokerTable {
		st.eff[i], st.src[i] = nullValue, SourceDefaultConfig
		for _, l := range st.layers() {
			if v, ok := l.m[brokerTable[i].name]; ok {
				st.eff[i], st.src[i] = v, l.src
				break
			}
		}
	}
}

// setting is one key=value assignment and where it came from.
type setting struct {
	key, value, origin string
}

// apply parses and stores a batch of settings from one source into l, and
// returns every setting it rejected (the others are applied). Within a
// batch, a key and its alias may not disagree.
func apply(l layer, batch []setting) []*Error {
	var errs []*Error
	seen := make(map[int]setting)
	for _, s := range batch {
		i, ok := brokerIndex[s.key]
		if !ok {
			errs = append(errs, unknownKey(s.key, s.origin))
			continue
		}
		k := &brokerTable[i]
		v, reason := k.spec().parse(s.value)
		if reason != "" {
			errs = append(errs, &Error{Key: s.key, Value: s.value, Reason: reason, Origin: s.origin, Err: ErrInvalidValue})
			continue
		}
		if prev, ok := seen[i]; ok && prev.key != s.key {
			if pv, _ := k.spec().parse(prev.value); pv.null != v.null || pv.s != v.s {
				reason := fmt.Sprintf("conflicts with %s=%q", prev.key, prev.value)
				errs = append(errs, &Error{Key: s.key, Value: s.value, Reason: reason, Origin: s.origin, Err: ErrInvalidValue})
				continue
			}
		}
		seen[i] = s
		v.origin = s.origin
		if v.null {
			delete(l, k.name) // an empty nullable value unsets the key
		} else {
			l[k.name] = v
		}
	}
	return errs
}

// check validates rules that span several keys, on the effective values,
// and resolves the listener and quorum keys into st.net.
func (st *state) check() error {
	invalid := func(i int, reason string) error {
		v := st.eff[i]
		return &Error{Key: brokerTable[i].name, Value: v.s, Reason: reason, Origin: v.origin, Err: ErrInvalidValue}
	}
	if ms, _, i := st.resolve(retentionChain); ms == 0 {
		return invalid(i, "retention must be -1 (unlimited) or at least 1 ms")
	}
	threads := st.eff[brokerIndex["log.cleaner.threads"]].i
	buf := st.eff[brokerIndex["log.cleaner.dedupe.buffer.size"]]
	if threads > 0 && buf.i/threads <= 1<<20 {
		reason := fmt.Sprintf("must be more than 1 MiB per cleaner thread (log.cleaner.threads=%d)", threads)
		return invalid(brokerIndex["log.cleaner.dedupe.buffer.size"], reason)
	}
	roles := brokerIndex["process.roles"]
	if r := st.eff[roles].list; len(r) != 2 || r[0] == r[1] {
		return invalid(roles, "Gregor runs the broker and the controller roles in one process: set process.roles=broker,controller (a broker-only or controller-only node is not supported yet)")
	}
	n, err := st.deriveNetwork()
	if err != nil {
		return err
	}
	st.net = n
	return nil
}

// resolve returns the value of the first key in c that has one, scaled to
// the chain's unit, with its source and the key's index. A negative result
// of a multi-unit chain is normalised to -1, Kafka's "unlimited".
func (st *state) resolve(c chain) (n int64, src Source, index int) {
	for _, l := range c {
		i := brokerIndex[l.key]
		if v := st.eff[i]; !v.null {
			n = v.i * l.scale
			if len(c) > 1 && n < 0 {
				n = -1
			}
			return n, st.src[i], i
		}
	}
	panic("config: chain without a default: " + c[0].key) // ruled out by initTopicTables
}

// synonyms lists, as Kafka's DescribeConfigs does, every value that names
// (the synonyms of name) have in each source, sources in precedence order,
// then drops the entries before the first one for name itself.
func (st *state) synonyms(name string, names []string) []Synonym {
	var out []Synonym
	for _, l := range st.layers() {
		for _, n := range names {
			k := &brokerTable[brokerIndex[n]]
			if v, ok := l.m[k.name]; ok {
				s := v.s
				if k.typ == TypePassword {
					s = ""
				}
				out = append(out, Synonym{Name: n, Value: s, Source: l.src})
			}
		}
	}
	for len(out) > 0 && out[0].Name != name {
		out = out[1:]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func newEntry(name string, typ Type, v value, syn []Synonym, readOnly bool, doc string) Entry {
	e := Entry{
		Name:      name,
		Source:    SourceDefaultConfig,
		ReadOnly:  readOnly,
		Sensitive: typ == TypePassword,
		Type:      typ,
		Doc:       doc,
		Synonyms:  syn,
	}
	if len(syn) > 0 {
		e.Source = syn[0].Source
	}
	if !v.null && !e.Sensitive {
		s := v.s
		e.Value = &s
	}
	return e
}

// Default returns a Broker with every key at its default.
func Default() *Broker {
	b := &Broker{}
	b.cur.Store(newState())
	return b
}

// update applies fn to a copy of the current snapshot, validates the result
// and, unless dryRun, publishes it.
func (b *Broker) update(dryRun bool, fn func(st *state) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.cur.Load().clone()
	if err := fn(st); err != nil {
		return err
	}
	st.recompute()
	if err := st.check(); err != nil {
		return err
	}
	if !dryRun {
		b.cur.Store(st)
	}
	return nil
}

// Set sets key as a static value (STATIC_BROKER_CONFIG), as if it had been
// given with --set. An empty value unsets a key whose default is null.
func (b *Broker) Set(key, value string) error {
	return b.update(false, func(st *state) error {
		return joinErrors(apply(st.static, []setting{{key: key, value: value}}))
	})
}

// UpdateDynamic changes dynamic values at one level, src being
// SourceDynamicBrokerConfig (this broker) or SourceDynamicDefaultBrokerConfig
// (cluster-wide default). A nil value deletes the key from that level. The
// changes apply together or not at all; with validateOnly nothing changes.
// Keys Kafka treats as read-only give an error wrapping ErrReadOnly.
func (b *Broker) UpdateDynamic(src Source, changes map[string]*string, validateOnly bool) error {
	return b.update(validateOnly, func(st *state) error {
		var l layer
		switch src {
		case SourceDynamicBrokerConfig:
			l = st.dynBroker
		case SourceDynamicDefaultBrokerConfig:
			l = st.dynDefault
		default:
			return fmt.Errorf("config: %v is not a dynamic broker config level", src)
		}
		for _, key := range slices.Sorted(maps.Keys(changes)) {
			i, ok := brokerIndex[key]
			switch {
			case !ok:
				return unknownKey(key, "")
			case !brokerTable[i].dynamic():
				return &Error{Key: key, Err: ErrReadOnly}
			case brokerTable[i].mode == perBroker && src == SourceDynamicDefaultBrokerConfig:
				reason := "can be set for one broker only, not as a cluster-wide default"
				return &Error{Key: key, Value: strOrEmpty(changes[key]), Reason: reason, Err: ErrInvalidValue}
			case changes[key] == nil:
				delete(l, brokerTable[i].name)
			default:
				if err := joinErrors(apply(l, []setting{{key: key, value: *changes[key]}})); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func strOrEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// index returns key's index, panicking when the key is unknown or (with
// want) of another type: both are programming errors.
func index(key string, want ...Type) int {
	i, ok := brokerIndex[key]
	if !ok {
		panic(fmt.Sprintf("config: unknown broker key %q", key))
	}
	if t := brokerTable[i].typ; len(want) > 0 && !slices.Contains(want, t) {
		panic(fmt.Sprintf("config: broker key %q is %v, not %v", key, t, want))
	}
	return i
}

func (b *Broker) get(key string, want ...Type) value { return b.cur.Load().eff[index(key, want...)] }

// String returns key's value in Kafka's string form, "" when null.
func (b *Broker) String(key string) string { return b.get(key).s }

// Int returns an INT or SHORT key's value (0 when null).
func (b *Broker) Int(key string) int32 { return int32(b.get(key, TypeInt, TypeShort).i) }

// Int64 returns an INT, SHORT or LONG key's value (0 when null).
func (b *Broker) Int64(key string) int64 { return b.get(key, TypeInt, TypeShort, TypeLong).i }

// Bool returns a BOOLEAN key's value.
func (b *Broker) Bool(key string) bool { return b.get(key, TypeBoolean).b }

// Float returns a DOUBLE key's value.
func (b *Broker) Float(key string) float64 { return b.get(key, TypeDouble).f }

// List returns a LIST key's elements.
func (b *Broker) List(key string) []string { return slices.Clone(b.get(key, TypeList).list) }

// Has reports whether key has a value (false for an unset key whose default
// is null, such as log.retention.ms).
func (b *Broker) Has(key string) bool { return !b.get(key).null }

// Source returns where key's effective value comes from.
func (b *Broker) Source(key string) Source { return b.cur.Load().src[index(key)] }

// NodeID returns node.id (or its alias broker.id).
func (b *Broker) NodeID() int32 { return b.Int("node.id") }

// RollMs returns the segment roll age: log.roll.ms, else log.roll.hours.
func (b *Broker) RollMs() int64 { return b.resolve(rollChain) }

// RollJitterMs returns the roll jitter: log.roll.jitter.ms, else .hours.
func (b *Broker) RollJitterMs() int64 { return b.resolve(rollJitterChain) }

// RetentionMs returns the retention age: log.retention.ms, else .minutes,
// else .hours; -1 means unlimited.
func (b *Broker) RetentionMs() int64 { return b.resolve(retentionChain) }

// FlushIntervalMs returns log.flush.interval.ms, else
// log.flush.scheduler.interval.ms.
func (b *Broker) FlushIntervalMs() int64 { return b.resolve(flushMsChain) }

func (b *Broker) resolve(c chain) int64 {
	n, _, _ := b.cur.Load().resolve(c)
	return n
}

// Entries describes every broker key and alias, sorted by name, as Kafka's
// DescribeConfigs does for this broker's BROKER resource: the key's own value
// (nil when null), its source, read-only flag and synonyms.
func (b *Broker) Entries() []Entry {
	st := b.cur.Load()
	out := make([]Entry, 0, len(brokerNames))
	for _, name := range brokerNames {
		i := brokerIndex[name]
		k := &brokerTable[i]
		syn := st.synonyms(name, brokerSynonyms(name))
		out = append(out, newEntry(name, k.typ, st.eff[i], syn, !k.dynamic(), brokerDoc(name)))
	}
	return out
}

// ClusterDefaultEntries describes the cluster-wide dynamic defaults, as
// DescribeConfigs does for the BROKER resource with an empty name: only keys
// set at that level, with only that level's synonyms.
func (b *Broker) ClusterDefaultEntries() []Entry {
	st := b.cur.Load()
	var out []Entry
	for _, name := range brokerNames {
		i := brokerIndex[name]
		k := &brokerTable[i]
		v, ok := st.dynDefault[k.name]
		if !ok || name != k.name {
			continue
		}
		var syn []Synonym
		for _, s := range st.synonyms(name, brokerSynonyms(name)) {
			if s.Source == SourceDynamicDefaultBrokerConfig {
				syn = append(syn, s)
			}
		}
		out = append(out, newEntry(name, k.typ, v, syn, !k.dynamic(), k.doc))
	}
	return out
}

// DynamicValues returns the values set at one dynamic level (this broker's,
// or the cluster-wide default), keyed by canonical name, for persisting them.
func (b *Broker) DynamicValues(src Source) map[string]string {
	st := b.cur.Load()
	var l layer
	switch src {
	case SourceDynamicBrokerConfig:
		l = st.dynBroker
	case SourceDynamicDefaultBrokerConfig:
		l = st.dynDefault
	default:
		return nil
	}
	m := make(map[string]string, len(l))
	for k, v := range l {
		m[k] = v.s
	}
	return m
}
