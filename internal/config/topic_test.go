package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestConfigTopicResolution(t *testing.T) {
	b := Default()
	if err := b.Set("log.segment.bytes", "2048"); err != nil {
		t.Fatal(err)
	}
	tp := NewTopic(b, map[string]string{
		"retention.ms":              "1000",
		"cleanup.policy":            "compact,delete",
		"min.cleanable.dirty.ratio": "0.25",
		"preallocate":               "true",
	})
	if err := tp.Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key   string
		value string
		src   Source
	}{
		{"retention.ms", "1000", SourceTopicConfig},
		{"cleanup.policy", "compact,delete", SourceTopicConfig},
		{"segment.bytes", "2048", SourceStaticBrokerConfig},
		{"segment.ms", "604800000", SourceDefaultConfig},
		{"segment.jitter.ms", "0", SourceDefaultConfig},
		{"flush.ms", "9223372036854775807", SourceDefaultConfig},
		{"max.message.bytes", "1048588", SourceDefaultConfig},
		{"segment.index.bytes", "10485760", SourceDefaultConfig},
		{"file.delete.delay.ms", "60000", SourceDefaultConfig},
		{"compression.type", "producer", SourceDefaultConfig},
		{"message.timestamp.type", "CreateTime", SourceDefaultConfig},
	}
	for _, tt := range tests {
		if v, src := tp.Get(tt.key); v != tt.value || src != tt.src {
			t.Errorf("Get(%s) = %q, %v; want %q, %v", tt.key, v, src, tt.value, tt.src)
		}
	}
	if tp.RetentionMs() != 1000 || tp.Int("segment.bytes") != 2048 || tp.Int64("segment.bytes") != 2048 {
		t.Error("typed getters disagree with Get")
	}
	if got := tp.List("cleanup.policy"); !reflect.DeepEqual(got, []string{"compact", "delete"}) {
		t.Errorf("List = %q", got)
	}
	if tp.Float("min.cleanable.dirty.ratio") != 0.25 || !tp.Bool("preallocate") || tp.Bool("unclean.leader.election.enable") {
		t.Error("Float/Bool wrong")
	}
	if tp.String("compression.type") != "producer" {
		t.Error("String wrong")
	}

	// Broker changes show through at once, with the chain's unit conversion.
	for _, s := range [][2]string{{"log.roll.hours", "2"}, {"log.retention.minutes", "5"}, {"log.flush.scheduler.interval.ms", "700"}} {
		if err := b.Set(s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}
	if got := tp.SegmentMs(); got != 7200000 {
		t.Errorf("SegmentMs = %d, want 7200000", got)
	}
	if v, src := tp.Get("flush.ms"); v != "700" || src != SourceStaticBrokerConfig {
		t.Errorf("flush.ms = %q %v", v, src)
	}
	other := NewTopic(b, nil)
	if got := other.RetentionMs(); got != 300000 {
		t.Errorf("RetentionMs from minutes = %d", got)
	}
	if err := b.UpdateDynamic(SourceDynamicDefaultBrokerConfig, map[string]*string{"log.retention.ms": strp("-1")}, false); err != nil {
		t.Fatal(err)
	}
	if v, src := other.Get("retention.ms"); v != "-1" || src != SourceDynamicDefaultBrokerConfig {
		t.Errorf("retention.ms after dynamic change = %q %v", v, src)
	}
	if tp.RetentionMs() != 1000 {
		t.Error("a topic override must beat dynamic broker values")
	}
}

func TestConfigTopicUnlimitedFromHours(t *testing.T) {
	b := Default()
	if err := b.Set("log.retention.hours", "-1"); err != nil {
		t.Fatal(err)
	}
	if got := NewTopic(b, nil).RetentionMs(); got != -1 {
		t.Errorf("RetentionMs = %d, want -1", got)
	}
}

func TestConfigTopicInvalidOverridesIgnored(t *testing.T) {
	b := Default()
	in := map[string]string{"segment.bytes": "1", "no.such.config": "x", "retention.ms": "5"}
	tp := NewTopic(b, in)
	err := tp.Err()
	if !errors.Is(err, ErrInvalidValue) || !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Err = %v", err)
	}
	if !strings.Contains(err.Error(), "segment.bytes") || !strings.Contains(err.Error(), "no.such.config") {
		t.Errorf("Err does not name the keys: %v", err)
	}
	if v, src := tp.Get("segment.bytes"); v != "1073741824" || src != SourceDefaultConfig {
		t.Errorf("invalid override not ignored: %q %v", v, src)
	}
	if tp.RetentionMs() != 5 {
		t.Error("valid override lost")
	}
	ov := tp.Overrides()
	if !reflect.DeepEqual(ov, in) {
		t.Errorf("Overrides = %v", ov)
	}
	ov["retention.ms"] = "9"
	in["retention.ms"] = "9"
	if tp.RetentionMs() != 5 || tp.Overrides()["retention.ms"] != "5" {
		t.Error("Topic shares a map with its caller")
	}
	if NewTopic(b, nil).Err() != nil || len(NewTopic(b, nil).Overrides()) != 0 {
		t.Error("a topic without overrides")
	}
}

// topicBadValues lists a rejected value for every topic config.
var topicBadValues = map[string]string{
	"cleanup.policy":                  "compact,shred",
	"compression.type":                "brotli",
	"delete.retention.ms":             "-1",
	"file.delete.delay.ms":            "-1",
	"flush.messages":                  "0",
	"flush.ms":                        "-1",
	"index.interval.bytes":            "-1",
	"max.compaction.lag.ms":           "0",
	"max.message.bytes":               "-1",
	"message.downconversion.enable":   "maybe",
	"message.timestamp.after.max.ms":  "-1",
	"message.timestamp.before.max.ms": "-1",
	"message.timestamp.type":          "NoTime",
	"min.cleanable.dirty.ratio":       "-0.1",
	"min.compaction.lag.ms":           "-1",
	"min.insync.replicas":             "0",
	"preallocate":                     "1",
	"retention.bytes":                 "lots",
	"retention.ms":                    "-2",
	"segment.bytes":                   "13",
	"segment.index.bytes":             "3",
	"segment.jitter.ms":               "-1",
	"segment.ms":                      "0",
	"unclean.leader.election.enable":  "no",
}

func TestConfigValidateTopicConfig(t *testing.T) {
	for _, name := range TopicConfigNames() {
		bad, ok := topicBadValues[name]
		if !ok {
			t.Errorf("%s: no bad value listed", name)
			continue
		}
		err := ValidateTopicConfig(name, bad)
		if !errors.Is(err, ErrInvalidValue) || !strings.HasPrefix(err.Error(), "config: "+name+": invalid value") {
			t.Errorf("ValidateTopicConfig(%s, %q) = %v", name, bad, err)
		}
		if !IsTopicConfig(name) {
			t.Errorf("IsTopicConfig(%s) = false", name)
		}
	}
	good := map[string]string{"retention.ms": "-1", "retention.bytes": "-5", "cleanup.policy": "", "segment.bytes": "14",
		"min.cleanable.dirty.ratio": "1", "compression.type": "zstd", "message.timestamp.type": "LogAppendTime"}
	for k, v := range good {
		if err := ValidateTopicConfig(k, v); err != nil {
			t.Errorf("ValidateTopicConfig(%s, %q) = %v", k, v, err)
		}
	}
	err := ValidateTopicConfig("log.retention.ms", "1")
	if !errors.Is(err, ErrUnknownKey) || err.Error() != `config: unknown key "log.retention.ms"` {
		t.Errorf("broker key as topic config: %v", err)
	}
	if IsTopicConfig("log.segment.bytes") {
		t.Error("IsTopicConfig accepted a broker key")
	}
}

func TestConfigValidateTopicConfigs(t *testing.T) {
	b := Default()
	if err := ValidateTopicConfigs(b, map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "20"}); err != nil {
		t.Error(err)
	}
	err := ValidateTopicConfigs(b, map[string]string{"min.compaction.lag.ms": "30", "max.compaction.lag.ms": "20"})
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "min.compaction.lag.ms") {
		t.Errorf("min > max: %v", err)
	}
	// The broker's value takes part when the topic does not override it.
	if err := b.Set("log.cleaner.max.compaction.lag.ms", "100"); err != nil {
		t.Fatal(err)
	}
	if err := ValidateTopicConfigs(b, map[string]string{"min.compaction.lag.ms": "200"}); err == nil {
		t.Error("min above the broker's max accepted")
	}
	if err := ValidateTopicConfigs(b, map[string]string{"segment.ms": "x"}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("bad value: %v", err)
	}
}

func TestConfigTopicEntries(t *testing.T) {
	b := Default()
	if err := b.Set("log.retention.hours", "24"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set("log.segment.bytes", "4096"); err != nil {
		t.Fatal(err)
	}
	tp := NewTopic(b, map[string]string{"segment.bytes": "8192"})
	es := tp.Entries()
	if len(es) != len(topicTable) {
		t.Fatalf("%d entries, want %d", len(es), len(topicTable))
	}
	byName := entriesByName(es)
	for _, e := range es {
		if e.ReadOnly || e.Sensitive || e.Value == nil || e.Doc == "" {
			t.Errorf("%s: %+v", e.Name, e)
		}
	}

	tests := []struct {
		name  string
		value string
		src   Source
		syn   []Synonym
	}{
		{"segment.bytes", "8192", SourceTopicConfig, []Synonym{
			{"segment.bytes", "8192", SourceTopicConfig},
			{"log.segment.bytes", "4096", SourceStaticBrokerConfig},
			{"log.segment.bytes", "1073741824", SourceDefaultConfig}}},
		{"max.message.bytes", "1048588", SourceDefaultConfig, []Synonym{
			{"message.max.bytes", "1048588", SourceDefaultConfig}}},
		// Kafka lists synonyms only from the primary broker synonym on: with
		// log.retention.ms unset there are none, although the value comes
		// from log.retention.hours.
		{"retention.ms", "86400000", SourceDefaultConfig, nil},
		{"segment.ms", "604800000", SourceDefaultConfig, nil},
		{"flush.ms", "9223372036854775807", SourceDefaultConfig, nil},
	}
	check := func() {
		t.Helper()
		for _, tt := range tests {
			e := byName[tt.name]
			if e.Value == nil || *e.Value != tt.value || e.Source != tt.src || !reflect.DeepEqual(e.Synonyms, tt.syn) {
				t.Errorf("%s = %v %v %+v; want %q %v %+v", tt.name, deref(e.Value), e.Source, e.Synonyms, tt.value, tt.src, tt.syn)
			}
		}
	}
	check()
	if _, src := tp.Get("retention.ms"); src != SourceStaticBrokerConfig {
		t.Errorf("Get reports the source of the supplying broker key; got %v", src)
	}

	// With the primary synonym set, every unit variant that has a value is
	// listed, in source order.
	if err := b.UpdateDynamic(SourceDynamicDefaultBrokerConfig, map[string]*string{"log.retention.ms": strp("1000")}, false); err != nil {
		t.Fatal(err)
	}
	tp = NewTopic(b, map[string]string{"retention.ms": "5000"})
	byName = entriesByName(tp.Entries())
	tests = []struct {
		name  string
		value string
		src   Source
		syn   []Synonym
	}{
		{"retention.ms", "5000", SourceTopicConfig, []Synonym{
			{"retention.ms", "5000", SourceTopicConfig},
			{"log.retention.ms", "1000", SourceDynamicDefaultBrokerConfig},
			{"log.retention.hours", "24", SourceStaticBrokerConfig},
			{"log.retention.hours", "168", SourceDefaultConfig}}},
	}
	check()
	tp = NewTopic(b, nil)
	byName = entriesByName(tp.Entries())
	tests[0].value, tests[0].src, tests[0].syn = "1000", SourceDynamicDefaultBrokerConfig, tests[0].syn[1:]
	check()
}

func TestConfigTopicGettersPanicOnMisuse(t *testing.T) {
	tp := NewTopic(Default(), nil)
	for name, f := range map[string]func(){
		"unknown":       func() { tp.Get("log.segment.bytes") },
		"Int on LONG":   func() { tp.Int("retention.ms") },
		"Bool on INT":   func() { tp.Bool("segment.bytes") },
		"Float on LIST": func() { tp.Float("cleanup.policy") },
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
