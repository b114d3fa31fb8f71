// Package bench is the load generator behind `gregor bench`: produce,
// consume and end-to-end workloads, and OpenMessaging Benchmark workload
// files (omb.go, omb_run.go), against any Kafka-protocol broker, driven by
// franz-go.
//
// Invariants:
//   - Every run is bounded: it stops after Records measured records or after
//     Duration, and whatever is still in flight gets at most DrainTimeout to
//     finish; a run that makes no progress for DrainTimeout is stopped. An
//     OMB backlog run lasts until its backlog is built and drained, and is
//     stopped when the backlog stops growing, or the consumers stop
//     receiving, for DrainTimeout.
//   - Under a target rate the load is open-loop: each record's intended send
//     time comes from a Pacer, and latencies are measured from it, so stalls
//     are not hidden by the sender slowing down.
//   - No produce or fetch error is dropped: each is counted, and the first of
//     each distinct kind is logged.
//   - Throughput counts record value bytes only; MB means MiB (2^20 bytes).
package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Sentinel errors of the package.
var (
	ErrConfig          = errors.New("bench: invalid configuration")
	ErrNothingProduced = errors.New("bench: no record was produced")
	ErrNothingConsumed = errors.New("bench: no record was consumed")
	ErrTopicMissing    = errors.New("bench: topic does not exist")
	errBadHeaderLength = errors.New("bench: record value shorter than its header")
)

const (
	defaultDrainTimeout        = 30 * time.Second
	defaultRecordSize          = 1024
	defaultBatchMaxBytes int32 = 1 << 20
)

// HeaderSize is the part of each record value the tool writes per record:
// see encodeHeader. Record sizes below it are refused.
const HeaderSize = 16

// Common holds the settings every workload shares.
type Common struct {
	Brokers           []string `json:"brokers"`
	Topic             string   `json:"topic"`
	Partitions        int32    `json:"partitions"`         // when the topic is created; 0 means 1
	ReplicationFactor int16    `json:"replication_factor"` // when the topic is created; 0 means 1
	RecordSize        int      `json:"record_size"`        // value bytes per record, >= HeaderSize; 0 means 1024
	// Exactly one of Records and Duration is set: the measured phase ends
	// after Records records or after Duration.
	Records  int64         `json:"records"`
	Duration time.Duration `json:"duration_ns"`
	// Warmup runs before the measured phase; its samples are discarded.
	Warmup time.Duration `json:"warmup_ns"`
	// Progress is the interval of the progress line written to
	// ProgressOut; 0 or a nil ProgressOut turns it off.
	Progress    time.Duration `json:"progress_ns"`
	ProgressOut io.Writer     `json:"-"`
	// DrainTimeout bounds the wait for in-flight records at the end and the
	// time without progress before a run is abandoned; 0 means 30 s.
	DrainTimeout time.Duration `json:"drain_timeout_ns"`
	Logger       *slog.Logger  `json:"-"` // nil: slog.Default()
	Clock        Clock         `json:"-"` // nil: SystemClock
}

// Acks is the produce acknowledgement level, as Kafka's acks.
type Acks int8

// Acknowledgement levels.
const (
	AcksNone   Acks = 0
	AcksLeader Acks = 1
	AcksAll    Acks = -1
)

// ParseAcks reads 0, 1, all or -1.
func ParseAcks(s string) (Acks, error) {
	switch strings.ToLower(s) {
	case "0":
		return AcksNone, nil
	case "1":
		return AcksLeader, nil
	case "all", "-1":
		return AcksAll, nil
	}
	return 0, fmt.Errorf("%w: acks %q: want 0, 1 or all", ErrConfig, s)
}

func (a Acks) String() string {
	if a == AcksAll {
		return "all"
	}
	return fmt.Sprint(int8(a))
}

// MarshalText writes the flag form (0, 1, all).
func (a Acks) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Kgo is the franz-go acks setting of a.
func (a Acks) Kgo() kgo.Acks {
	switch a {
	case AcksNone:
		return kgo.NoAck()
	case AcksLeader:
		return kgo.LeaderAck()
	}
	return kgo.AllISRAcks()
}

// CompressionCodec maps a --compression name (none, gzip, snappy, lz4,
// zstd) to its codec; gregor produce uses it too.
func CompressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("%w: compression %q: want none, gzip, snappy, lz4 or zstd", ErrConfig, name)
}

// ProduceConfig is a produce workload (and the producer side of e2e).
type ProduceConfig struct {
	Common
	Acks        Acks          `json:"acks"`
	Compression string        `json:"compression"` // none, gzip, snappy, lz4, zstd
	Linger      time.Duration `json:"linger_ns"`
	BatchBytes  int32         `json:"batch_bytes"` // kgo ProducerBatchMaxBytes; 0 means 1 MiB
	Producers   int           `json:"producers"`   // independent clients; 0 means 1
	// Idempotent must be false unless Acks is AcksAll (franz-go refuses
	// idempotence otherwise).
	Idempotent bool `json:"idempotent"`
	// MaxInflight is produce requests in flight per broker; only effective
	// without idempotence (franz-go uses its own limit otherwise); 0 keeps
	// franz-go's default.
	MaxInflight int `json:"max_inflight"`
	// MaxBufferedRecords bounds records buffered per client before Produce
	// blocks; 0 keeps franz-go's default.
	MaxBufferedRecords int `json:"max_buffered_records"`
	// Rate is records/s across all producers; 0 is closed loop.
	Rate float64 `json:"rate"`
	// Keys is the number of distinct keys cycled through; 0 sends no keys.
	Keys int `json:"keys"`
}

// Fetch holds the consumer's fetch settings.
type Fetch struct {
	MaxBytes          int32         `json:"fetch_max_bytes"`           // per fetch; 0 keeps franz-go's default (50 MiB)
	MaxPartitionBytes int32         `json:"fetch_max_partition_bytes"` // per partition per fetch; 0 keeps franz-go's default (1 MiB)
	MaxWait           time.Duration `json:"fetch_max_wait_ns"`         // 0 means 500 ms, Kafka's fetch.max.wait.ms
}

// ConsumeConfig is a consume workload: read the topic from its start.
type ConsumeConfig struct {
	Common
	Fetch
}

// E2EConfig is a producer and a consumer in one process.
type E2EConfig struct {
	ProduceConfig
	Fetch
}

func (c *Common) validate() error {
	switch {
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: no brokers", ErrConfig)
	case c.Topic == "":
		return fmt.Errorf("%w: no topic", ErrConfig)
	case c.Partitions < 1:
		return fmt.Errorf("%w: partitions %d: want >= 1", ErrConfig, c.Partitions)
	case c.ReplicationFactor < 1:
		return fmt.Errorf("%w: replication factor %d: want >= 1", ErrConfig, c.ReplicationFactor)
	case c.RecordSize < HeaderSize:
		return fmt.Errorf("%w: record size %d: want >= %d (timestamp and sequence header)", ErrConfig, c.RecordSize, HeaderSize)
	case c.Records < 0 || c.Duration < 0 || c.Warmup < 0 || c.Progress < 0 || c.DrainTimeout < 0:
		return fmt.Errorf("%w: negative records, duration, warmup, progress or drain timeout", ErrConfig)
	case (c.Records > 0) == (c.Duration > 0):
		return fmt.Errorf("%w: set exactly one of records and duration", ErrConfig)
	}
	return nil
}

// withDefaults fills the fields whose zero value means "default".
func (c *Common) withDefaults() {
	if c.Partitions == 0 {
		c.Partitions = 1
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
	if c.RecordSize == 0 {
		c.RecordSize = defaultRecordSize
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = defaultDrainTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Progress == 0 {
		c.ProgressOut = nil
	}
}

func (c *ProduceConfig) validate() error {
	if err := c.Common.validate(); err != nil {
		return err
	}
	if _, err := CompressionCodec(c.Compression); err != nil {
		return err
	}
	switch {
	case c.Acks != AcksNone && c.Acks != AcksLeader && c.Acks != AcksAll:
		return fmt.Errorf("%w: acks %d", ErrConfig, c.Acks)
	case c.Idempotent && c.Acks != AcksAll:
		return fmt.Errorf("%w: idempotent producing needs acks=all", ErrConfig)
	case c.BatchBytes < 0 || c.Producers < 0 || c.MaxInflight < 0 || c.MaxBufferedRecords < 0 || c.Keys < 0 || c.Linger < 0:
		return fmt.Errorf("%w: negative batch bytes, producers, max inflight, max buffered records, keys or linger", ErrConfig)
	case c.Rate < 0:
		return fmt.Errorf("%w: rate %g: want >= 0", ErrConfig, c.Rate)
	}
	return nil
}

func (c *ProduceConfig) withDefaults() {
	c.Common.withDefaults()
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = defaultBatchMaxBytes
	}
	if c.Producers == 0 {
		c.Producers = 1
	}
}

// prepare fills the defaults and validates.
func (c *ProduceConfig) prepare() error {
	c.withDefaults()
	return c.validate()
}

func (c *ConsumeConfig) prepare() error {
	c.Common.withDefaults()
	c.Fetch.withDefaults()
	return errors.Join(c.Common.validate(), c.Fetch.validate())
}

func (c *E2EConfig) prepare() error {
	c.Fetch.withDefaults()
	return errors.Join(c.ProduceConfig.prepare(), c.Fetch.validate())
}

func (f *Fetch) validate() error {
	if f.MaxBytes < 0 || f.MaxPartitionBytes < 0 || f.MaxWait < 0 {
		return fmt.Errorf("%w: negative fetch max bytes, max partition bytes or max wait", ErrConfig)
	}
	return nil
}

func (f *Fetch) withDefaults() {
	if f.MaxWait == 0 {
		f.MaxWait = 500 * time.Millisecond
	}
}

// producerOpts are the kgo options of one producer client.
func (c *ProduceConfig) producerOpts() []kgo.Opt {
	codec, _ := CompressionCodec(c.Compression) // checked by validate
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.RequiredAcks(c.Acks.Kgo()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(c.Linger),
		kgo.ProducerBatchMaxBytes(c.BatchBytes),
	}
	if !c.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
		if c.MaxInflight > 0 {
			opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(c.MaxInflight))
		}
	}
	if c.MaxBufferedRecords > 0 {
		opts = append(opts, kgo.MaxBufferedRecords(c.MaxBufferedRecords))
	}
	return opts
}

// consumerOpts are the kgo options of a consumer reading the given
// partitions from the given offsets.
func (f *Fetch) consumerOpts(brokers []string, topic string, offsets map[int32]kgo.Offset) []kgo.Opt {
	return append(f.fetchOpts(brokers), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
}

// fetchOpts are the kgo options of any consumer, without what it consumes.
func (f *Fetch) fetchOpts(brokers []string) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.FetchMaxWait(f.MaxWait),
	}
	if f.MaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(f.MaxBytes))
	}
	if f.MaxPartitionBytes > 0 {
		opts = append(opts, kgo.FetchMaxPartitionBytes(f.MaxPartitionBytes))
	}
	return opts
}
