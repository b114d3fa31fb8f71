package config

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestConfigDefaults(t *testing.T) {
	b := Default()
	strs := map[string]string{
		"node.id":                             "1",
		"broker.id":                           "1",
		"log.dirs":                            "./gregor-data",
		"log.dir":                             "./gregor-data",
		"listeners":                           "PLAINTEXT://:9092",
		"advertised.listeners":                "",
		"message.max.bytes":                   "1048588",
		"log.segment.bytes":                   "1073741824",
		"log.roll.ms":                         "",
		"log.flush.interval.messages":         "9223372036854775807",
		"log.cleanup.policy":                  "delete",
		"log.cleaner.min.cleanable.ratio":     "0.5",
		"log.cleaner.io.max.bytes.per.second": "1.7976931348623157E308",
		"log.message.timestamp.type":          "CreateTime",
		"compression.type":                    "producer",
		"process.roles":                       "broker,controller",
		"controller.quorum.voters":            "",
		"offsets.topic.replication.factor":    "3",
		"log.segment.delete.delay.ms":         "60000",
		"cluster.id":                          "",
	}
	for k, want := range strs {
		if got := b.String(k); got != want {
			t.Errorf("default %s = %q, want %q", k, got, want)
		}
	}
	if b.Has("log.retention.ms") || b.Has("broker.rack") || !b.Has("log.retention.hours") {
		t.Error("Has: null defaults must report false, set defaults true")
	}
	if got := b.Float("log.cleaner.io.max.bytes.per.second"); got != math.MaxFloat64 {
		t.Errorf("io max = %v", got)
	}
	if got := b.List("controller.quorum.voters"); len(got) != 0 {
		t.Errorf("voters = %q", got)
	}
	if got := b.Int64("log.message.timestamp.after.max.ms"); got != 3600000 {
		t.Errorf("after.max.ms = %d, want Kafka 4.0's one hour", got)
	}
	if !b.Bool("auto.create.topics.enable") || b.Bool("unclean.leader.election.enable") {
		t.Error("boolean defaults wrong")
	}
	for _, e := range b.Entries() {
		if e.Source != SourceDefaultConfig {
			t.Errorf("%s: default source %v", e.Name, e.Source)
		}
	}
}

func TestConfigTablesAreComplete(t *testing.T) {
	for _, k := range brokerTable {
		if k.doc == "" || strings.Contains(k.doc, "\n") {
			t.Errorf("%s: want a one-line doc", k.name)
		}
		if k.typ == TypeUnknown {
			t.Errorf("%s: no type", k.name)
		}
	}
	for _, k := range topicTable {
		if k.doc == "" {
			t.Errorf("%s: no doc", k.name)
		}
	}
	// Every key maps to a distinct environment variable that maps back.
	for _, name := range brokerNames {
		if envKeys[EnvName(name)] != name {
			t.Errorf("%s: environment variable %s maps to %q", name, EnvName(name), envKeys[EnvName(name)])
		}
	}
}

// badValues lists values the constraints of keys reject, with a fragment of
// the reason: every key with a custom rule must be here; for ranges and
// enumerations TestConfigValidatorsRejectBadValues derives more on its own.
var badValues = map[string][2]string{
	"listener.security.protocol.map":            {"CONTROLLER:TLS", "one of PLAINTEXT, SSL"},
	"controller.quorum.bootstrap.servers":       {"localhost", "host:port"},
	"compression.gzip.level":                    {"0", "between 1 and 9, or -1"},
	"remote.log.metadata.manager.class.name":    {" ", "non-empty"},
	"remote.log.metadata.manager.impl.prefix":   {"", "non-empty"},
	"remote.log.storage.manager.impl.prefix":    {"  ", "non-empty"},
	"node.id":                                   {"-1", ">= 0"},
	"log.dirs":                                  {"/a,/b", "only one log directory"},
	"listeners":                                 {"PLAINTEXT://:9092,PLAINTEXT://:9093", "appears twice"},
	"advertised.listeners":                      {"0.0.0.0:9092", "meta-address"},
	"num.partitions":                            {"0", ">= 1"},
	"default.replication.factor":                {"0", ">= 1"},
	"message.max.bytes":                         {"-1", ">= 0"},
	"socket.request.max.bytes":                  {"0", ">= 1"},
	"socket.send.buffer.bytes":                  {"-2", ">= -1"},
	"socket.receive.buffer.bytes":               {"-2", ">= -1"},
	"num.network.threads":                       {"0", ">= 1"},
	"num.io.threads":                            {"0", ">= 1"},
	"log.segment.bytes":                         {"13", ">= 14"},
	"log.roll.ms":                               {"0", ">= 1"},
	"log.roll.hours":                            {"0", ">= 1"},
	"log.roll.jitter.ms":                        {"-1", ">= 0"},
	"log.roll.jitter.hours":                     {"-1", ">= 0"},
	"log.index.interval.bytes":                  {"-1", ">= 0"},
	"log.index.size.max.bytes":                  {"3", ">= 4"},
	"log.flush.interval.messages":               {"0", ">= 1"},
	"log.flush.interval.ms":                     {"-1", ">= 0"},
	"log.flush.scheduler.interval.ms":           {"-1", ">= 0"},
	"log.flush.offset.checkpoint.interval.ms":   {"-1", ">= 0"},
	"log.retention.ms":                          {"-2", ">= -1"},
	"log.retention.minutes":                     {"-2", ">= -1"},
	"log.retention.hours":                       {"-2", ">= -1"},
	"log.retention.check.interval.ms":           {"0", ">= 1"},
	"log.segment.delete.delay.ms":               {"-1", ">= 0"},
	"log.cleanup.policy":                        {"delete,shred", "delete, compact"},
	"log.cleaner.delete.retention.ms":           {"-1", ">= 0"},
	"log.cleaner.min.cleanable.ratio":           {"1.5", "between 0.0 and 1.0"},
	"log.cleaner.min.compaction.lag.ms":         {"-1", ">= 0"},
	"log.cleaner.max.compaction.lag.ms":         {"0", ">= 1"},
	"log.cleaner.backoff.ms":                    {"-1", ">= 0"},
	"log.cleaner.threads":                       {"-1", ">= 0"},
	"log.message.timestamp.type":                {"createtime", "one of CreateTime, LogAppendTime"},
	"log.message.timestamp.before.max.ms":       {"-1", ">= 0"},
	"log.message.timestamp.after.max.ms":        {"-1", ">= 0"},
	"compression.type":                          {"brotli", "one of"},
	"min.insync.replicas":                       {"0", ">= 1"},
	"offsets.topic.num.partitions":              {"0", ">= 1"},
	"offsets.topic.replication.factor":          {"0", ">= 1"},
	"offsets.retention.minutes":                 {"0", ">= 1"},
	"offsets.retention.check.interval.ms":       {"0", ">= 1"},
	"group.initial.rebalance.delay.ms":          {"-1", ">= 0"},
	"group.min.session.timeout.ms":              {"-1", ">= 0"},
	"group.max.session.timeout.ms":              {"-1", ">= 0"},
	"group.max.size":                            {"0", ">= 1"},
	"transactional.id.expiration.ms":            {"0", ">= 1"},
	"transaction.max.timeout.ms":                {"0", ">= 1"},
	"producer.id.expiration.ms":                 {"0", ">= 1"},
	"metrics.listen":                            {"9644", "host:port"},
	"producer.id.expiration.check.interval.ms":  {"0", ">= 1"},
	"max.incremental.fetch.session.cache.slots": {"-1", ">= 0"},
	"controller.quorum.voters":                  {"1@localhost", "id@host:port"},
	"process.roles":                             {"", "non-empty"},
	"replica.lag.time.max.ms":                   {"-1", ">= 0"},
	"replica.fetch.max.bytes":                   {"-1", ">= 0"},
	"replica.fetch.response.max.bytes":          {"-1", ">= 0"},
	"replica.fetch.wait.max.ms":                 {"-1", ">= 0"},
	"replica.fetch.min.bytes":                   {"-1", ">= 0"},
	"replica.fetch.backoff.ms":                  {"-1", ">= 0"},
	"leader.imbalance.check.interval.seconds":   {"0", ">= 1"},
	"broker.session.timeout.ms":                 {"0", ">= 1"},
	"broker.heartbeat.interval.ms":              {"0", ">= 1"},
	"queued.max.requests":                       {"0", ">= 1"},
	"num.recovery.threads.per.data.dir":         {"0", ">= 1"},
	"request.timeout.ms":                        {"-1", ">= 0"},
}

// derivedBadValues are values just outside each range or enumeration rule.
func derivedBadValues(k *brokerKey) []string {
	switch r := k.rule.(type) {
	case intRange:
		out := []string{strconv.FormatInt(r.min-1, 10)}
		if r.bounded {
			out = append(out, strconv.FormatInt(r.max+1, 10))
		}
		return out
	case floatRange:
		return []string{javaDouble(r.lo - 1), javaDouble(r.hi + 1)}
	case oneOf:
		return []string{"not-" + r.names[0]}
	}
	return nil
}

func TestConfigValidatorsRejectBadValues(t *testing.T) {
	bads := map[string][][2]string{}
	for key, bad := range badValues {
		bads[key] = append(bads[key], bad)
	}
	for _, k := range brokerTable {
		if _, ok := badValues[k.name]; !ok {
			if _, isCustom := k.rule.(custom); isCustom {
				t.Errorf("%s has a custom rule but no entry in badValues", k.name)
			}
		}
		for _, v := range derivedBadValues(&k) {
			bads[k.name] = append(bads[k.name], [2]string{v, "must be"})
		}
	}
	for key, list := range bads {
		for _, bad := range list {
			checkBadValue(t, key, bad)
		}
	}
}

func checkBadValue(t *testing.T, key string, bad [2]string) {
	t.Helper()
	{
		err := Default().Set(key, bad[0])
		if err == nil {
			t.Errorf("Set(%s, %q) succeeded", key, bad[0])
			return
		}
		want := "config: " + key + ": invalid value " + `"` + bad[0] + `"`
		if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), bad[1]) {
			t.Errorf("Set(%s, %q): %q, want prefix %q and %q", key, bad[0], err, want, bad[1])
		}
		if !errors.Is(err, ErrInvalidValue) {
			t.Errorf("Set(%s): %v is not ErrInvalidValue", key, err)
		}
	}
}

// Every key rejects a value that is not of its type.
func TestConfigTypesRejectGarbage(t *testing.T) {
	garbage := map[Type][]string{
		TypeBoolean: {"yes", "1", "tru"},
		TypeInt:     {"abc", "1.5", "2147483648", "0x10"},
		TypeShort:   {"abc", "32768"},
		TypeLong:    {"abc", "9223372036854775808", "1e3"},
		TypeDouble:  {"abc", "NaN"},
		TypeList:    {"a,,b"},
	}
	for _, k := range brokerTable {
		for _, g := range garbage[k.typ] {
			err := Default().Set(k.name, g)
			if err == nil || !strings.Contains(err.Error(), k.name) || !errors.Is(err, ErrInvalidValue) {
				t.Errorf("Set(%s, %q): err = %v", k.name, g, err)
			}
		}
		if k.def.set && k.typ != TypeString && k.typ != TypeList && k.typ != TypeClass {
			if err := Default().Set(k.name, ""); err == nil {
				t.Errorf("Set(%s, \"\") succeeded on a key without a null default", k.name)
			}
		}
	}
}

func TestConfigParseCanonicalForms(t *testing.T) {
	tests := []struct{ key, in, want string }{
		{"log.cleaner.min.cleanable.ratio", "0.50", "0.5"},
		{"log.cleaner.min.cleanable.ratio", "1", "1.0"},
		{"log.cleaner.io.max.bytes.per.second", "1e7", "1.0E7"},
		{"log.cleaner.io.max.bytes.per.second", "0.0001", "1.0E-4"},
		{"log.cleaner.io.max.bytes.per.second", "123456.789", "123456.789"},
		{"log.cleaner.io.max.bytes.per.second", "Infinity", "Infinity"},
		{"num.partitions", "+3", "3"},
		{"log.preallocate", "TRUE", "true"},
		{"log.cleanup.policy", " compact , delete ", "compact,delete"},
		{"broker.rack", "  r1  ", "r1"},
	}
	for _, tt := range tests {
		b := Default()
		if err := b.Set(tt.key, tt.in); err != nil {
			t.Errorf("Set(%s, %q): %v", tt.key, tt.in, err)
			continue
		}
		if got := b.String(tt.key); got != tt.want {
			t.Errorf("Set(%s, %q) then String = %q, want %q", tt.key, tt.in, got, tt.want)
		}
	}
}

func TestConfigJavaDouble(t *testing.T) {
	tests := map[float64]string{
		0.5: "0.5", 1: "1.0", 0: "0.0", 0.001: "0.001", 9999999: "9999999.0", 1e7: "1.0E7",
		-2.5e-5: "-2.5E-5", math.MaxFloat64: "1.7976931348623157E308", math.Inf(-1): "-Infinity",
	}
	for f, want := range tests {
		if got := javaDouble(f); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestConfigAliases(t *testing.T) {
	b := Default()
	if err := b.Set("broker.id", "7"); err != nil {
		t.Fatal(err)
	}
	if b.NodeID() != 7 || b.Int("node.id") != 7 || b.Int("broker.id") != 7 {
		t.Errorf("broker.id alias: node.id = %d", b.NodeID())
	}
	if err := b.Set("log.dir", "/data/one"); err != nil {
		t.Fatal(err)
	}
	if b.DataDir() != "/data/one" || b.String("log.dirs") != "/data/one" {
		t.Errorf("log.dir alias: DataDir = %q", b.DataDir())
	}
	if err := b.Set("log.dir", "/a,/b"); err == nil || !strings.Contains(err.Error(), "log.dir") {
		t.Errorf("two dirs through the alias: err = %v", err)
	}
	if err := b.Set("log.dirs", " /data/two ,"); err != nil || b.DataDir() != "/data/two" {
		t.Errorf("trailing comma: err = %v, DataDir = %q", err, b.DataDir())
	}
	byName := entriesByName(b.Entries())
	for _, name := range []string{"node.id", "broker.id"} {
		e := byName[name]
		if e.Value == nil || *e.Value != "7" || e.Source != SourceStaticBrokerConfig || !e.ReadOnly {
			t.Errorf("%s entry = %+v", name, e)
		}
		if len(e.Synonyms) != 2 || e.Synonyms[0] != (Synonym{name, "7", SourceStaticBrokerConfig}) ||
			e.Synonyms[1] != (Synonym{name, "1", SourceDefaultConfig}) {
			t.Errorf("%s synonyms = %+v", name, e.Synonyms)
		}
	}
}

func TestConfigDerivedMs(t *testing.T) {
	const week = 7 * 24 * 3600 * 1000
	tests := []struct {
		name                           string
		sets                           []string
		roll, jitter, retention, flush int64
	}{
		{"defaults", nil, week, 0, week, math.MaxInt64},
		{"roll hours", []string{"log.roll.hours=1"}, 3600000, 0, week, math.MaxInt64},
		{"roll ms wins", []string{"log.roll.hours=1", "log.roll.ms=5000"}, 5000, 0, week, math.MaxInt64},
		{"jitter hours", []string{"log.roll.jitter.hours=2"}, week, 7200000, week, math.MaxInt64},
		{"jitter ms wins", []string{"log.roll.jitter.hours=2", "log.roll.jitter.ms=10"}, week, 10, week, math.MaxInt64},
		{"retention hours", []string{"log.retention.hours=24"}, week, 0, 86400000, math.MaxInt64},
		{"retention minutes win", []string{"log.retention.hours=24", "log.retention.minutes=10"}, week, 0, 600000, math.MaxInt64},
		{"retention ms wins", []string{"log.retention.minutes=10", "log.retention.ms=100"}, week, 0, 100, math.MaxInt64},
		{"unlimited ms", []string{"log.retention.ms=-1"}, week, 0, -1, math.MaxInt64},
		{"unlimited hours", []string{"log.retention.hours=-1"}, week, 0, -1, math.MaxInt64},
		{"unlimited minutes", []string{"log.retention.minutes=-1"}, week, 0, -1, math.MaxInt64},
		{"flush scheduler", []string{"log.flush.scheduler.interval.ms=500"}, week, 0, week, 500},
		{"flush interval wins", []string{"log.flush.scheduler.interval.ms=500", "log.flush.interval.ms=1000"}, week, 0, week, 1000},
		{"unset roll ms falls back", []string{"log.roll.ms=5", "log.roll.ms="}, week, 0, week, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Load(LoadOptions{Sets: tt.sets})
			if err != nil {
				t.Fatal(err)
			}
			if got := b.RollMs(); got != tt.roll {
				t.Errorf("RollMs = %d, want %d", got, tt.roll)
			}
			if got := b.RollJitterMs(); got != tt.jitter {
				t.Errorf("RollJitterMs = %d, want %d", got, tt.jitter)
			}
			if got := b.RetentionMs(); got != tt.retention {
				t.Errorf("RetentionMs = %d, want %d", got, tt.retention)
			}
			if got := b.FlushIntervalMs(); got != tt.flush {
				t.Errorf("FlushIntervalMs = %d, want %d", got, tt.flush)
			}
		})
	}
}

func TestConfigCrossKeyChecks(t *testing.T) {
	tests := []struct {
		sets []string
		key  string
	}{
		{[]string{"log.retention.ms=0"}, "log.retention.ms"},
		{[]string{"log.retention.minutes=0"}, "log.retention.minutes"},
		{[]string{"log.retention.hours=0"}, "log.retention.hours"},
		{[]string{"log.cleaner.threads=200"}, "log.cleaner.dedupe.buffer.size"},
		{[]string{"log.cleaner.dedupe.buffer.size=1048576"}, "log.cleaner.dedupe.buffer.size"},
	}
	for _, tt := range tests {
		_, err := Load(LoadOptions{Sets: tt.sets})
		if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%v: err = %v, want one naming %s", tt.sets, err, tt.key)
		}
	}
	// Without cleaner threads the buffer size does not matter.
	if _, err := Load(LoadOptions{Sets: []string{"log.cleaner.threads=0", "log.cleaner.dedupe.buffer.size=1"}}); err != nil {
		t.Error(err)
	}
	// A rejected Set leaves the previous value.
	b := Default()
	if err := b.Set("log.retention.hours", "0"); err == nil {
		t.Fatal("zero retention accepted")
	}
	if b.RetentionMs() != 7*24*3600*1000 || b.Source("log.retention.hours") != SourceDefaultConfig {
		t.Errorf("rejected Set changed state: retention %d", b.RetentionMs())
	}
}

func entriesByName(es []Entry) map[string]Entry {
	m := make(map[string]Entry, len(es))
	for _, e := range es {
		m[e.Name] = e
	}
	return m
}

func strp(s string) *string { return &s }

func TestConfigBrokerEntries(t *testing.T) {
	b := Default()
	es := b.Entries()
	if len(es) != len(brokerTable)+len(brokerAliases) {
		t.Errorf("%d entries, want %d", len(es), len(brokerTable)+len(brokerAliases))
	}
	for i := 1; i < len(es); i++ {
		if es[i-1].Name >= es[i].Name {
			t.Errorf("entries not sorted: %s before %s", es[i-1].Name, es[i].Name)
		}
	}
	byName := entriesByName(es)

	// Null default: no value, no synonyms (Kafka drops the other unit
	// variants because none precedes log.retention.ms itself).
	if e := byName["log.retention.ms"]; e.Value != nil || e.Source != SourceDefaultConfig || len(e.Synonyms) != 0 || e.ReadOnly || e.Type != TypeLong {
		t.Errorf("default log.retention.ms = %+v", e)
	}
	if e := byName["log.retention.hours"]; e.Value == nil || *e.Value != "168" || !e.ReadOnly ||
		!reflect.DeepEqual(e.Synonyms, []Synonym{{"log.retention.hours", "168", SourceDefaultConfig}}) {
		t.Errorf("default log.retention.hours = %+v", e)
	}

	for _, set := range [][2]string{{"log.retention.hours", "24"}, {"log.segment.bytes", "4096"}} {
		if err := b.Set(set[0], set[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.UpdateDynamic(SourceDynamicDefaultBrokerConfig, map[string]*string{"log.retention.ms": strp("1000")}, false); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateDynamic(SourceDynamicBrokerConfig, map[string]*string{"log.segment.bytes": strp("8192")}, false); err != nil {
		t.Fatal(err)
	}
	byName = entriesByName(b.Entries())
	tests := []struct {
		name  string
		value *string
		src   Source
		syn   []Synonym
	}{
		{"log.retention.ms", strp("1000"), SourceDynamicDefaultBrokerConfig, []Synonym{
			{"log.retention.ms", "1000", SourceDynamicDefaultBrokerConfig},
			{"log.retention.hours", "24", SourceStaticBrokerConfig},
			{"log.retention.hours", "168", SourceDefaultConfig}}},
		{"log.retention.hours", strp("24"), SourceStaticBrokerConfig, []Synonym{
			{"log.retention.hours", "24", SourceStaticBrokerConfig},
			{"log.retention.hours", "168", SourceDefaultConfig}}},
		{"log.retention.minutes", nil, SourceDefaultConfig, nil},
		{"log.segment.bytes", strp("8192"), SourceDynamicBrokerConfig, []Synonym{
			{"log.segment.bytes", "8192", SourceDynamicBrokerConfig},
			{"log.segment.bytes", "4096", SourceStaticBrokerConfig},
			{"log.segment.bytes", "1073741824", SourceDefaultConfig}}},
		{"log.flush.interval.ms", nil, SourceDefaultConfig, nil},
		{"num.partitions", strp("1"), SourceDefaultConfig, []Synonym{{"num.partitions", "1", SourceDefaultConfig}}},
	}
	for _, tt := range tests {
		e := byName[tt.name]
		if !reflect.DeepEqual(e.Value, tt.value) || e.Source != tt.src || !reflect.DeepEqual(e.Synonyms, tt.syn) {
			t.Errorf("%s = value %v source %v synonyms %+v; want %v %v %+v",
				tt.name, deref(e.Value), e.Source, e.Synonyms, deref(tt.value), tt.src, tt.syn)
		}
	}
	// log.flush.interval.ms lists the scheduler interval it falls back to,
	// but not the other way round.
	if err := b.Set("log.flush.interval.ms", "100"); err != nil {
		t.Fatal(err)
	}
	byName = entriesByName(b.Entries())
	if got := byName["log.flush.interval.ms"].Synonyms; !reflect.DeepEqual(got, []Synonym{
		{"log.flush.interval.ms", "100", SourceStaticBrokerConfig},
		{"log.flush.scheduler.interval.ms", "9223372036854775807", SourceDefaultConfig}}) {
		t.Errorf("log.flush.interval.ms synonyms = %+v", got)
	}
	if got := byName["log.flush.scheduler.interval.ms"].Synonyms; !reflect.DeepEqual(got, []Synonym{
		{"log.flush.scheduler.interval.ms", "9223372036854775807", SourceDefaultConfig}}) {
		t.Errorf("log.flush.scheduler.interval.ms synonyms = %+v", got)
	}
	if b.Source("log.segment.bytes") != SourceDynamicBrokerConfig || b.Int("log.segment.bytes") != 8192 {
		t.Errorf("dynamic per-broker value not effective")
	}

	readOnly := map[string]bool{"node.id": true, "log.dirs": true, "listeners": true, "log.roll.hours": true,
		"log.segment.bytes": false, "compression.type": false, "log.cleaner.threads": false,
		"log.cleaner.enable": true, "message.max.bytes": false, "producer.id.expiration.ms": false}
	for name, want := range readOnly {
		if got := byName[name].ReadOnly; got != want {
			t.Errorf("%s ReadOnly = %v, want %v", name, got, want)
		}
	}

	cd := b.ClusterDefaultEntries()
	if len(cd) != 1 || cd[0].Name != "log.retention.ms" || *cd[0].Value != "1000" ||
		!reflect.DeepEqual(cd[0].Synonyms, []Synonym{{"log.retention.ms", "1000", SourceDynamicDefaultBrokerConfig}}) {
		t.Errorf("ClusterDefaultEntries = %+v", cd)
	}
}

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestConfigUpdateDynamic(t *testing.T) {
	b := Default()
	err := b.UpdateDynamic(SourceDynamicBrokerConfig, map[string]*string{"node.id": strp("3")}, false)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "node.id") {
		t.Errorf("read-only key: err = %v", err)
	}
	err = b.UpdateDynamic(SourceDynamicBrokerConfig, map[string]*string{"no.such.key": strp("3")}, false)
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: err = %v", err)
	}
	if err := b.UpdateDynamic(SourceStaticBrokerConfig, map[string]*string{"log.retention.ms": strp("1")}, false); err == nil {
		t.Error("static source accepted as a dynamic level")
	}
	// All or nothing: one bad value rejects the batch.
	err = b.UpdateDynamic(SourceDynamicDefaultBrokerConfig, map[string]*string{
		"log.retention.ms": strp("1000"), "min.insync.replicas": strp("0")}, false)
	if !errors.Is(err, ErrInvalidValue) || b.Has("log.retention.ms") {
		t.Errorf("bad batch: err = %v, retention set = %v", err, b.Has("log.retention.ms"))
	}
	// validateOnly changes nothing.
	if err := b.UpdateDynamic(SourceDynamicDefaultBrokerConfig, map[string]*string{"log.retention.ms": strp("1000")}, true); err != nil {
		t.Fatal(err)
	}
	if b.Has("log.retention.ms") {
		t.Error("validateOnly applied the change")
	}
	// Per-broker beats cluster default; deleting falls back.
	must := func(src Source, key string, v *string) {
		t.Helper()
		if err := b.UpdateDynamic(src, map[string]*string{key: v}, false); err != nil {
			t.Fatal(err)
		}
	}
	must(SourceDynamicDefaultBrokerConfig, "log.retention.ms", strp("1000"))
	must(SourceDynamicBrokerConfig, "log.retention.ms", strp("2000"))
	if b.RetentionMs() != 2000 || b.Source("log.retention.ms") != SourceDynamicBrokerConfig {
		t.Errorf("per-broker: retention %d source %v", b.RetentionMs(), b.Source("log.retention.ms"))
	}
	must(SourceDynamicBrokerConfig, "log.retention.ms", nil)
	if b.RetentionMs() != 1000 || b.Source("log.retention.ms") != SourceDynamicDefaultBrokerConfig {
		t.Errorf("after delete: retention %d source %v", b.RetentionMs(), b.Source("log.retention.ms"))
	}
	// Cross-key checks apply to dynamic changes too.
	if err := b.UpdateDynamic(SourceDynamicBrokerConfig, map[string]*string{"log.retention.ms": strp("0")}, false); err == nil {
		t.Error("dynamic zero retention accepted")
	}
}

func TestConfigGettersPanicOnMisuse(t *testing.T) {
	b := Default()
	for name, f := range map[string]func(){
		"unknown key":   func() { b.String("no.such.key") },
		"Int on LONG":   func() { b.Int("log.retention.bytes") },
		"Bool on INT":   func() { b.Bool("num.partitions") },
		"List on STR":   func() { b.List("listeners") },
		"Float on INT":  func() { b.Float("num.partitions") },
		"Source of bad": func() { b.Source("nope") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// Readers and writers may run concurrently (run with -race).
func TestConfigConcurrentUse(t *testing.T) {
	b := Default()
	tp := NewTopic(b, map[string]string{"cleanup.policy": "compact"})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n := b.Int("log.segment.bytes"); n != 1073741824 && n != 4096 {
					t.Errorf("torn read: %d", n)
					return
				}
				_ = tp.RetentionMs()
				_ = b.Entries()
			}
		}()
	}
	for i := range 200 {
		v := "4096"
		if i%2 == 1 {
			v = "1073741824"
		}
		if err := b.UpdateDynamic(SourceDynamicBrokerConfig, map[string]*string{"log.segment.bytes": &v}, false); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestConfigDynamicValuesRoundTrip(t *testing.T) {
	b := Default()
	v, list := "5000", "compact,delete"
	if err := b.UpdateDynamic(SourceDynamicDefaultBrokerConfig, map[string]*string{"log.retention.ms": &v, "log.cleanup.policy": &list}, false); err != nil {
		t.Fatal(err)
	}
	got := b.DynamicValues(SourceDynamicDefaultBrokerConfig)
	if got["log.retention.ms"] != "5000" || got["log.cleanup.policy"] != "compact,delete" || len(got) != 2 {
		t.Fatalf("dynamic defaults: %v", got)
	}
	if n := len(b.DynamicValues(SourceDynamicBrokerConfig)); n != 0 {
		t.Fatalf("per-broker level has %d values", n)
	}
	// Re-applying them to a fresh config gives the same effective values.
	c := Default()
	changes := map[string]*string{}
	for k, v := range got {
		changes[k] = &v
	}
	if err := c.UpdateDynamic(SourceDynamicDefaultBrokerConfig, changes, false); err != nil {
		t.Fatal(err)
	}
	if c.RetentionMs() != 5000 || len(c.List("log.cleanup.policy")) != 2 {
		t.Fatalf("re-applied: retention %d policy %v", c.RetentionMs(), c.List("log.cleanup.policy"))
	}
}
