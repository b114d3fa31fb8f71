package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/bench"
)

// ErrConfig marks an invalid Config.
var ErrConfig = errors.New("verify: invalid configuration")

// ErrNoTransactions is returned when --transactional meets a cluster that
// does not offer the transaction APIs.
var ErrNoTransactions = errors.New("verify: the cluster does not support transactions")

// Config is one verification run.
type Config struct {
	Brokers []string
	Topic   string
	// Partitions and ReplicationFactor apply when the topic is created
	// (ReplicationFactor -1: the broker's default); an existing topic is
	// used as it is.
	Partitions        int32
	ReplicationFactor int16
	// Duration is how long the producers write.
	Duration time.Duration
	// Rate bounds the records per second of all producers together; 0 is
	// as fast as the cluster takes them.
	Rate float64
	// Producers, Consumers (plain, assigned every partition from the log
	// start) and GroupConsumers (members of Group, committing; only with
	// a Group).
	Producers      int
	Consumers      int
	Group          string
	GroupConsumers int
	Acks           bench.Acks
	Idempotent     bool
	// Transactional producers write TxnRecords records per transaction
	// and abort every AbortEvery-th one; readers read committed.
	Transactional bool
	TxnRecords    int
	AbortEvery    int
	Compression   kgo.CompressionCodec
	// Timeout bounds each record's delivery and each admin request.
	Timeout time.Duration
	// DrainTimeout bounds the wait for consumers to catch up after the
	// producers stop, and is how long the final read may go without a
	// record before it gives up on the partitions it has not finished.
	DrainTimeout time.Duration
	// Progress, if set, is called every ProgressInterval while the run
	// lasts.
	Progress         func(Stats)
	ProgressInterval time.Duration
	// Run is the run id in the values; empty: a random one.
	Run    string
	Logger *slog.Logger
}

// Stats are the running totals the progress callback sees.
type Stats struct {
	Phase   string        `json:"phase"` // "producing", "draining", "final read"
	Elapsed time.Duration `json:"elapsed"`
	Sent    int64         `json:"sent"`
	Acked   int64         `json:"acked"`
	Errors  int64         `json:"errors"` // failed sends and fetch errors
	Read    int64         `json:"read"`
}

func (c *Config) prepare() error {
	switch {
	case len(c.Brokers) == 0:
		return fmt.Errorf("%w: no brokers", ErrConfig)
	case c.Topic == "":
		return fmt.Errorf("%w: no topic", ErrConfig)
	case c.Duration <= 0:
		return fmt.Errorf("%w: duration %v, want > 0", ErrConfig, c.Duration)
	case c.Producers < 1:
		return fmt.Errorf("%w: %d producers, want at least 1", ErrConfig, c.Producers)
	case c.Consumers < 0 || c.GroupConsumers < 0:
		return fmt.Errorf("%w: negative consumer count", ErrConfig)
	case c.Rate < 0:
		return fmt.Errorf("%w: rate %v, want >= 0", ErrConfig, c.Rate)
	case (c.Idempotent || c.Transactional) && c.Acks != bench.AcksAll:
		return fmt.Errorf("%w: idempotent and transactional producers need acks all", ErrConfig)
	}
	if c.Partitions <= 0 {
		c.Partitions = 1
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.Group != "" && c.GroupConsumers == 0 {
		c.GroupConsumers = max(c.Consumers, 1)
	}
	if c.TxnRecords <= 0 {
		c.TxnRecords = 10
	}
	if c.AbortEvery == 0 {
		c.AbortEvery = 5
	}
	if c.Compression == (kgo.CompressionCodec{}) {
		c.Compression = kgo.NoCompression()
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Run == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Run = "gv" + hex.EncodeToString(b[:])
	}
	return nil
}

// run is the state of one verification run.
type run struct {
	cfg        *Config
	adm        *kadm.Client
	partitions []int32
	start      time.Time

	mu sync.Mutex
	h  History

	phase                     atomic.Value // string
	sent, acked, errs, nreads atomic.Int64
}

// Run creates the topic if needed, runs the workload and the final read,
// and returns what happened. An error means the run could not be carried
// out (no cluster, no transactions); anomalies are for Check to find.
func Run(ctx context.Context, cfg Config) (*History, error) {
	if err := cfg.prepare(); err != nil {
		return nil, err
	}
	acl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID("gregor-verify-admin"),
		kgo.RetryTimeout(cfg.Timeout), kgo.DialTimeout(min(cfg.Timeout, 10*time.Second)))
	if err != nil {
		return nil, fmt.Errorf("verify: client: %w", err)
	}
	defer acl.Close()
	r := &run{cfg: &cfg, adm: kadm.NewClient(acl), start: time.Now()}
	r.adm.SetTimeoutMillis(int32(cfg.Timeout.Milliseconds()))
	r.h.Run = cfg.Run
	r.h.ReadCommitted = cfg.Transactional
	r.phase.Store("starting")

	actx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if cfg.Transactional {
		if err := r.checkTransactions(actx); err != nil {
			return nil, err
		}
	}
	r.partitions, _, err = bench.EnsureTopic(actx, r.adm, cfg.Topic, cfg.Partitions, cfg.ReplicationFactor, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("verify: topic %s: %w", cfg.Topic, err)
	}

	stopProgress := r.reportProgress()
	defer stopProgress()

	// Readers run until told to stop, after the producers.
	readCtx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	var readers sync.WaitGroup
	var plain []*reader
	for i := range cfg.Consumers {
		rd, err := r.startPlain(readCtx, &readers, fmt.Sprintf("c%d", i))
		if err != nil {
			return nil, err
		}
		plain = append(plain, rd)
	}
	var group *reader // shared by the members: the group reads each partition once
	var obs *commitObserver
	if cfg.Group != "" {
		obs = r.newCommitObserver(actx)
		group = newReader("group")
		for i := range cfg.GroupConsumers {
			if err := r.startGroupMember(readCtx, &readers, group, fmt.Sprintf("g%d", i)); err != nil {
				return nil, err
			}
		}
		readers.Add(1)
		go func() { defer readers.Done(); obs.watch(readCtx) }()
	}

	r.phase.Store("producing")
	if err := r.produce(ctx); err != nil {
		return nil, err
	}

	r.phase.Store("draining")
	ends, err := r.endOffsets(ctx)
	if err != nil {
		return nil, err
	}
	r.waitCaughtUp(ctx, append(plain, group), ends)
	stopReaders()
	readers.Wait()
	if obs != nil {
		obs.observe(ctx)
	}

	r.phase.Store("final read")
	if err := r.finalRead(ctx); err != nil {
		return nil, err
	}
	if obs != nil {
		obs.observe(ctx)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("verify: interrupted: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.h
	return &h, nil
}

// checkTransactions fails unless every broker offers EndTxn (API key 26):
// a cluster without a transaction coordinator would otherwise leave the
// transactional producers retrying FindCoordinator until their timeout.
func (r *run) checkTransactions(ctx context.Context) error {
	vs, err := r.adm.ApiVersions(ctx)
	if err != nil {
		return fmt.Errorf("verify: api versions: %w", err)
	}
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			return fmt.Errorf("verify: api versions of broker %d: %w", v.NodeID, v.Err)
		}
		if _, ok := v.KeyMaxVersion(26); !ok {
			return fmt.Errorf("%w: broker %d does not offer EndTxn (API key 26); run without --transactional", ErrNoTransactions, v.NodeID)
		}
	}
	return nil
}

func (r *run) stats() Stats {
	return Stats{
		Phase:   r.phase.Load().(string),
		Elapsed: time.Since(r.start),
		Sent:    r.sent.Load(),
		Acked:   r.acked.Load(),
		Errors:  r.errs.Load(),
		Read:    r.nreads.Load(),
	}
}

func (r *run) reportProgress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.cfg.Progress(r.stats())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// addSend records a value about to be sent and returns its index.
func (r *run) addSend(value string) int {
	r.sent.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Sends = append(r.h.Sends, Send{Value: value, Outcome: Pending, Partition: -1, Offset: -1})
	return len(r.h.Sends) - 1
}

// resolve sets the outcome of send i.
func (r *run) resolve(i int, o Outcome, partition int32, offset int64, err error) {
	switch o {
	case Acked:
		r.acked.Add(1)
	case Failed, Indeterminate:
		r.errs.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.h.Sends[i]
	s.Outcome, s.Partition, s.Offset = o, partition, offset
	if o != Acked {
		s.Offset = -1
	}
	if err != nil {
		s.Err = err.Error()
	}
}

// outcomeOf classifies a failed send: only a non-retriable error code
// says the cluster did not write it.
func outcomeOf(err error) Outcome {
	if errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, kgo.ErrRecordRetries) {
		return Indeterminate
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		return Failed
	}
	return Indeterminate
}

func (r *run) addRead(reader string, rec *kgo.Record) {
	r.nreads.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Reads = append(r.h.Reads, Read{Reader: reader, Partition: rec.Partition, Offset: rec.Offset, Value: string(rec.Value)})
}

func (r *run) addCommit(c Commit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Commits = append(r.h.Commits, c)
}

// endOffsets lists where each partition ends for readers: the high
// watermark, or the last stable offset under read_committed.
func (r *run) endOffsets(ctx context.Context) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	list := r.adm.ListEndOffsets
	if r.cfg.Transactional {
		list = r.adm.ListCommittedOffsets
	}
	listed, err := list(ctx, r.cfg.Topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("verify: end offsets of %s: %w", r.cfg.Topic, err)
	}
	out := make(map[int32]int64, len(r.partitions))
	for _, p := range r.partitions {
		lo, ok := listed.Lookup(r.cfg.Topic, p)
		if !ok {
			return nil, fmt.Errorf("verify: no end offset for %s/%d", r.cfg.Topic, p)
		}
		out[p] = lo.Offset
	}
	return out, nil
}

// clientOpts are the options every client of the run shares.
func (r *run) clientOpts(id string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.ClientID("gregor-verify-" + id),
		kgo.DialTimeout(min(r.cfg.Timeout, 10*time.Second)),
		kgo.RetryTimeout(r.cfg.Timeout),
	}
}
