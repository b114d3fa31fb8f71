package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrWorkload marks a workload file that cannot be run as it is written.
var ErrWorkload = errors.New("bench: invalid workload file")

// OMBKeys is the number of distinct keys of OMB's key distributors: both
// KEY_ROUND_ROBIN and RANDOM_NANO pick among 10,000 keys made once.
const OMBKeys = 10_000

// Key distributors of OMB (its KeyDistributorType).
const (
	KeyNone       = "NO_KEY"
	KeyRoundRobin = "KEY_ROUND_ROBIN"
	KeyRandomNano = "RANDOM_NANO"
)

// OMBWorkload is a workload file of the OpenMessaging Benchmark (its
// Workload class, field for field). A field absent from the file keeps
// OMB's default: NO_KEY, a one-minute warm-up, a backlog drain ratio of 1;
// every other absent field is 0.
//
// Where Gregor differs from OMB:
//   - payloadFile, useRandomizedPayloads, randomBytesRatio and
//     randomizedPayloadPoolSize are read and checked but not used: every
//     value is random bytes made once per run (see value.go), which only
//     matters to a broker that compresses, and Gregor does not.
//   - producerRate 0 is a closed-loop run at the highest rate the
//     producers reach, not OMB's search for the highest rate the consumers
//     keep up with.
//   - RANDOM_NANO cycles through the 10,000 keys in order as
//     KEY_ROUND_ROBIN does, instead of picking one by the clock: the same
//     keys, spread evenly over the partitions, in another order.
//   - consumerBacklogSizeGB may be fractional (OMB's is a whole number of
//     GiB), so a small machine can build a small backlog.
//   - messageSize must be at least HeaderSize: each value carries its send
//     time and sequence number.
type OMBWorkload struct {
	Name                      string  `yaml:"name" json:"name"`
	Topics                    int     `yaml:"topics" json:"topics"`
	PartitionsPerTopic        int     `yaml:"partitionsPerTopic" json:"partitionsPerTopic"`
	KeyDistributor            string  `yaml:"keyDistributor" json:"keyDistributor"`
	MessageSize               int     `yaml:"messageSize" json:"messageSize"`
	UseRandomizedPayloads     bool    `yaml:"useRandomizedPayloads" json:"useRandomizedPayloads"`
	RandomBytesRatio          float64 `yaml:"randomBytesRatio" json:"randomBytesRatio"`
	RandomizedPayloadPoolSize int     `yaml:"randomizedPayloadPoolSize" json:"randomizedPayloadPoolSize"`
	PayloadFile               string  `yaml:"payloadFile" json:"payloadFile"`
	SubscriptionsPerTopic     int     `yaml:"subscriptionsPerTopic" json:"subscriptionsPerTopic"`
	ProducersPerTopic         int     `yaml:"producersPerTopic" json:"producersPerTopic"`
	ConsumerPerSubscription   int     `yaml:"consumerPerSubscription" json:"consumerPerSubscription"`
	// ProducerRate is messages/s over all producers of all topics; 0 is
	// closed loop. A whole number in OMB; --rate-scale makes it fractional.
	ProducerRate float64 `yaml:"producerRate" json:"producerRate"`
	// ConsumerBacklogSizeGB > 0: after the warm-up the consumers pause
	// until this many GiB of messages wait for them, then they resume;
	// the run lasts until the backlog is drained plus TestDurationMinutes.
	ConsumerBacklogSizeGB float64 `yaml:"consumerBacklogSizeGB" json:"consumerBacklogSizeGB"`
	// BacklogDrainRatio is the part of the backlog that must be consumed
	// for it to count as drained (OMB: never closer than 1000 messages).
	BacklogDrainRatio     float64 `yaml:"backlogDrainRatio" json:"backlogDrainRatio"`
	TestDurationMinutes   int     `yaml:"testDurationMinutes" json:"testDurationMinutes"`
	WarmupDurationMinutes int     `yaml:"warmupDurationMinutes" json:"warmupDurationMinutes"`
}

// ombFields are the keys a workload file may have: the yaml names of
// OMBWorkload's fields.
var ombFields = []string{
	"name", "topics", "partitionsPerTopic", "keyDistributor", "messageSize",
	"useRandomizedPayloads", "randomBytesRatio", "randomizedPayloadPoolSize", "payloadFile",
	"subscriptionsPerTopic", "producersPerTopic", "consumerPerSubscription", "producerRate",
	"consumerBacklogSizeGB", "backlogDrainRatio", "testDurationMinutes", "warmupDurationMinutes",
}

// ombIntFields are the fields OMB reads as integers; a fraction there is
// refused rather than cut off.
var ombIntFields = []string{
	"topics", "partitionsPerTopic", "messageSize", "randomizedPayloadPoolSize", "subscriptionsPerTopic",
	"producersPerTopic", "consumerPerSubscription", "testDurationMinutes", "warmupDurationMinutes",
}

// LoadOMBWorkload reads and checks a workload file; a file without a name
// is named after the file.
func LoadOMBWorkload(path string) (*OMBWorkload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: workload: %w", err)
	}
	w, err := ParseOMBWorkload(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if w.Name == "" {
		w.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return w, nil
}

// ParseOMBWorkload decodes and checks one workload. A key that is not an
// OMB workload field is refused, naming it: a misspelt field must not run
// a different test than the one written.
func ParseOMBWorkload(b []byte) (*OMBWorkload, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWorkload, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%w: line %d: a second YAML document; a workload file holds one", ErrWorkload, extra.Line)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: not a mapping of workload fields", ErrWorkload)
	}
	m := doc.Content[0]
	for i := 0; i < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !slices.Contains(ombFields, k.Value) {
			return nil, fmt.Errorf("%w: line %d: unknown field %q (OMB workload fields: %s)",
				ErrWorkload, k.Line, k.Value, strings.Join(ombFields, ", "))
		}
		if slices.Contains(ombIntFields, k.Value) && v.ShortTag() != "!!int" {
			return nil, fmt.Errorf("%w: line %d: %s %q: want a whole number", ErrWorkload, v.Line, k.Value, v.Value)
		}
	}
	w := &OMBWorkload{KeyDistributor: KeyNone, WarmupDurationMinutes: 1, BacklogDrainRatio: 1}
	if err := m.Decode(w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWorkload, err)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	return w, nil
}

// Validate checks the values, naming the first one that is wrong.
func (w *OMBWorkload) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s %v: want %s", ErrWorkload, field, v, want)
	}
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case w.Topics < 1:
		return bad("topics", w.Topics, ">= 1")
	case w.PartitionsPerTopic < 1:
		return bad("partitionsPerTopic", w.PartitionsPerTopic, ">= 1")
	case w.PartitionsPerTopic > math.MaxInt32:
		return bad("partitionsPerTopic", w.PartitionsPerTopic, "a 32-bit count")
	case w.KeyDistributor != KeyNone && w.KeyDistributor != KeyRoundRobin && w.KeyDistributor != KeyRandomNano:
		return bad("keyDistributor", w.KeyDistributor, KeyNone+", "+KeyRoundRobin+" or "+KeyRandomNano)
	case w.MessageSize < HeaderSize:
		return bad("messageSize", w.MessageSize, fmt.Sprintf(">= %d (each value carries its send time and sequence number)", HeaderSize))
	case !finite(w.RandomBytesRatio) || w.RandomBytesRatio < 0 || w.RandomBytesRatio > 1:
		return bad("randomBytesRatio", w.RandomBytesRatio, "0 to 1")
	case w.RandomizedPayloadPoolSize < 0:
		return bad("randomizedPayloadPoolSize", w.RandomizedPayloadPoolSize, ">= 0")
	case w.SubscriptionsPerTopic < 1:
		return bad("subscriptionsPerTopic", w.SubscriptionsPerTopic, ">= 1")
	case w.ProducersPerTopic < 1:
		return bad("producersPerTopic", w.ProducersPerTopic, ">= 1")
	case w.ConsumerPerSubscription < 1:
		return bad("consumerPerSubscription", w.ConsumerPerSubscription, ">= 1")
	case !finite(w.ProducerRate) || w.ProducerRate < 0:
		return bad("producerRate", w.ProducerRate, ">= 0 (0: as fast as the producers go)")
	case !finite(w.ConsumerBacklogSizeGB) || w.ConsumerBacklogSizeGB < 0:
		return bad("consumerBacklogSizeGB", w.ConsumerBacklogSizeGB, ">= 0")
	case w.ConsumerBacklogSizeGB > 0 && w.ProducerRate == 0:
		// As OMB: a backlog is built at a known rate.
		return bad("producerRate", w.ProducerRate, "> 0 with a consumerBacklogSizeGB")
	case !finite(w.BacklogDrainRatio) || w.BacklogDrainRatio < 0 || w.BacklogDrainRatio > 1:
		return bad("backlogDrainRatio", w.BacklogDrainRatio, "0 to 1")
	case w.TestDurationMinutes < 0:
		return bad("testDurationMinutes", w.TestDurationMinutes, ">= 0")
	case w.WarmupDurationMinutes < 0:
		return bad("warmupDurationMinutes", w.WarmupDurationMinutes, ">= 0")
	}
	return nil
}

// Keys is the produce workload's Keys setting for the key distributor.
func (w *OMBWorkload) Keys() int {
	if w.KeyDistributor == KeyNone {
		return 0
	}
	return OMBKeys
}

// BacklogRecords is the backlog to build in messages (0: none): the
// backlog bytes over the message size, rounded up.
func (w *OMBWorkload) BacklogRecords() int64 {
	return int64(math.Ceil(w.ConsumerBacklogSizeGB * (1 << 30) / float64(w.MessageSize)))
}

// OMBOverrides fit a workload to a smaller machine without editing the
// file; zero values change nothing.
type OMBOverrides struct {
	Duration     time.Duration `json:"duration_ns"`   // instead of testDurationMinutes
	Warmup       time.Duration `json:"warmup_ns"`     // instead of warmupDurationMinutes; see WarmupSet
	WarmupSet    bool          `json:"warmup_set"`    // Warmup applies, even when 0
	RateScale    float64       `json:"rate_scale"`    // multiplies producerRate
	BacklogScale float64       `json:"backlog_scale"` // multiplies consumerBacklogSizeGB
}

// OMBPlan is a workload as it will run: the file's values with the
// overrides applied, and a line for each value that was changed.
type OMBPlan struct {
	Workload OMBWorkload   `json:"workload"` // producerRate and consumerBacklogSizeGB scaled
	Duration time.Duration `json:"duration_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	Changes  []string      `json:"changes,omitempty"`
}

// Plan applies the overrides. A run needs a duration: OMB runs a
// testDurationMinutes of 0 until it is stopped, which Gregor refuses.
func (w *OMBWorkload) Plan(o OMBOverrides) (*OMBPlan, error) {
	p := &OMBPlan{
		Workload: *w,
		Duration: time.Duration(w.TestDurationMinutes) * time.Minute,
		Warmup:   time.Duration(w.WarmupDurationMinutes) * time.Minute,
	}
	if o.Duration < 0 || o.Warmup < 0 || o.RateScale < 0 || o.BacklogScale < 0 ||
		math.IsNaN(o.RateScale) || math.IsInf(o.RateScale, 0) || math.IsNaN(o.BacklogScale) || math.IsInf(o.BacklogScale, 0) {
		return nil, fmt.Errorf("%w: negative or non-finite duration, warm-up, rate scale or backlog scale", ErrConfig)
	}
	if o.Duration > 0 {
		p.Changes = append(p.Changes, fmt.Sprintf("duration %s instead of testDurationMinutes %d", o.Duration, w.TestDurationMinutes))
		p.Duration = o.Duration
	}
	if o.WarmupSet {
		p.Changes = append(p.Changes, fmt.Sprintf("warm-up %s instead of warmupDurationMinutes %d", o.Warmup, w.WarmupDurationMinutes))
		p.Warmup = o.Warmup
	}
	if o.RateScale > 0 && o.RateScale != 1 {
		if w.ProducerRate == 0 {
			p.Changes = append(p.Changes, "producerRate 0 (as fast as the producers go) is not scaled")
		} else {
			p.Workload.ProducerRate = w.ProducerRate * o.RateScale
			p.Changes = append(p.Changes, fmt.Sprintf("producerRate %g msg/s (%g × %g)", p.Workload.ProducerRate, w.ProducerRate, o.RateScale))
		}
	}
	if o.BacklogScale > 0 && o.BacklogScale != 1 && w.ConsumerBacklogSizeGB > 0 {
		p.Workload.ConsumerBacklogSizeGB = w.ConsumerBacklogSizeGB * o.BacklogScale
		p.Changes = append(p.Changes, fmt.Sprintf("consumerBacklogSizeGB %g (%g × %g)", p.Workload.ConsumerBacklogSizeGB, w.ConsumerBacklogSizeGB, o.BacklogScale))
	}
	if p.Duration <= 0 {
		return nil, fmt.Errorf("%w: testDurationMinutes 0 runs until stopped in OMB; give a duration", ErrWorkload)
	}
	if err := p.Workload.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}
