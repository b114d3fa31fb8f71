package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gregor-dev/gregor/internal/bench"
)

var (
	errNothingProduced = errors.New("no record was produced")
)

func connect(cfg *config, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(cfg.server, nats.Name("nats-bench "+name), nats.NoReconnect())
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", cfg.server, err)
	}
	return nc, nil
}

// ensureStreams creates the run's streams (file storage, one replica,
// unlimited) or leaves existing ones as they are.
func ensureStreams(ctx context.Context, nc *nats.Conn, cfg *config) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for i := range cfg.partitions {
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name:      cfg.streamName(i),
			Subjects:  []string{cfg.subject(i)},
			Storage:   jetstream.FileStorage,
			Replicas:  1,
			Retention: jetstream.LimitsPolicy,
			Discard:   jetstream.DiscardOld,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", cfg.streamName(i), err)
		}
	}
	return nil
}

// produceRun drives cfg.producers connections from one shared schedule and
// measures each message from its intended send time to its PubAck.
type produceRun struct {
	cfg       *config
	producers []*producer
	subjects  []string
	payload   []byte

	tb            bench.Timebase
	sched         *bench.Schedule
	warmupEndUnix int64

	lat  *bench.Histogram
	errs *errorLog
	all  counters // acknowledged, warm-up included

	measuredRecords atomic.Int64
	measuredBytes   atomic.Int64
	lastAck         atomic.Int64 // timebase Unix ns of the last measured ack
	sent            atomic.Int64
	completed       atomic.Int64
}

// producer is one connection with its window of publishes awaiting acks.
// Slot i of the window has the reply subject replies[i]; free holds the
// slots not in flight.
type producer struct {
	run      *produceRun
	nc       *nats.Conn
	replies  []string
	intended []atomic.Int64 // Unix ns of the slot's record
	busy     []atomic.Bool
	free     chan int
}

func newProduceRun(cfg *config) (*produceRun, error) {
	r := &produceRun{
		cfg:     cfg,
		payload: make([]byte, cfg.recordSize),
		lat:     bench.NewHistogram(),
		errs:    newErrorLog("publish", cfg.log),
	}
	rand.Read(r.payload)
	for i := range cfg.partitions {
		r.subjects = append(r.subjects, cfg.subject(i))
	}
	for i := range cfg.producers {
		nc, err := connect(cfg, fmt.Sprintf("producer %d", i))
		if err != nil {
			r.close()
			return nil, err
		}
		p := &producer{
			run:      r,
			nc:       nc,
			intended: make([]atomic.Int64, cfg.window),
			busy:     make([]atomic.Bool, cfg.window),
			free:     make(chan int, cfg.window),
		}
		r.producers = append(r.producers, p)
		prefix := nats.NewInbox() + "."
		for slot := range cfg.window {
			p.replies = append(p.replies, prefix+strconv.Itoa(slot))
			p.free <- slot
		}
		if _, err := nc.Subscribe(prefix+"*", p.onAck); err != nil {
			r.close()
			return nil, fmt.Errorf("subscribe to acks: %w", err)
		}
		if err := nc.Flush(); err != nil { // the subscription is in place before publishing
			r.close()
			return nil, fmt.Errorf("flush: %w", err)
		}
	}
	return r, nil
}

func (r *produceRun) close() {
	for _, p := range r.producers {
		p.nc.Close()
	}
}

// begin fixes the run's start; the warm-up and measured phases follow.
// Record times are Unix ns through tb, which may be older than start.
func (r *produceRun) begin(tb bench.Timebase, start time.Time) {
	r.tb = tb
	r.sched = bench.NewSchedule(bench.SystemClock{}, start, r.cfg.rate, r.cfg.warmup, r.cfg.duration, r.cfg.records)
	r.warmupEndUnix = r.tb.UnixNano(r.sched.WarmupEnd())
}

// run publishes until the schedule ends, then waits up to the drain
// timeout for the acks in flight. It returns why it stopped early, or "".
func (r *produceRun) run(ctx context.Context) (stoppedEarly string) {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopWatchdog := r.watchdog(runCtx, cancel)
	var wg sync.WaitGroup
	for _, p := range r.producers {
		wg.Go(func() { p.generate(runCtx) })
	}
	wg.Wait()
	stopWatchdog()

	drained := true
	deadline := time.Now().Add(r.cfg.drainTimeout)
	for r.completed.Load() < r.sent.Load() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			drained = false
			break
		}
		time.Sleep(time.Millisecond)
	}
	switch {
	case errors.Is(context.Cause(runCtx), bench.ErrNoProgress):
		return fmt.Sprintf("no publish acknowledged for %s", r.cfg.drainTimeout)
	case ctx.Err() != nil:
		return "interrupted"
	case !drained:
		return fmt.Sprintf("%d publishes still unacknowledged after the %s drain timeout",
			r.sent.Load()-r.completed.Load(), r.cfg.drainTimeout)
	}
	return ""
}

// generate is one producer's loop: take the next record of the schedule,
// wait for a free slot of the window, publish.
func (p *producer) generate(ctx context.Context) {
	r := p.run
	value := append([]byte(nil), r.payload...) // PublishRequest copies it into its buffer
	for {
		seq, intended, ok := r.sched.Next(ctx)
		if !ok {
			return
		}
		var slot int
		select {
		case slot = <-p.free:
		case <-ctx.Done():
			return
		}
		unix := r.tb.UnixNano(intended)
		p.intended[slot].Store(unix)
		p.busy[slot].Store(true)
		encodeHeader(value, unix, seq)
		r.sent.Add(1)
		if err := p.nc.PublishRequest(r.subjects[seq%int64(len(r.subjects))], p.replies[slot], value); err != nil {
			r.errs.add(err.Error())
			p.release(slot)
		}
	}
}

// release frees a slot once; a stray second ack for it is ignored.
func (p *producer) release(slot int) bool {
	if !p.busy[slot].CompareAndSwap(true, false) {
		return false
	}
	p.run.completed.Add(1)
	p.free <- slot
	return true
}

// onAck handles a PubAck (or an error reply) on the producer's inbox; nats.go
// calls it serially for the subscription.
func (p *producer) onAck(m *nats.Msg) {
	r := p.run
	now := r.tb.UnixNano(time.Now())
	slot, err := strconv.Atoi(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
	if err != nil || slot < 0 || slot >= len(p.replies) {
		r.errs.add("reply on an unknown inbox subject")
		return
	}
	intended := p.intended[slot].Load()
	if !p.release(slot) {
		return
	}
	if msg := ackError(m); msg != "" {
		r.errs.add(msg)
		return
	}
	n := int64(r.cfg.recordSize)
	r.all.add(1, n)
	if intended < r.warmupEndUnix {
		return
	}
	r.lat.Record(time.Duration(now - intended))
	r.measuredRecords.Add(1)
	r.measuredBytes.Add(n)
	storeMax(&r.lastAck, now)
}

// ackError returns why a reply is not a successful PubAck, or "".
func ackError(m *nats.Msg) string {
	if len(m.Data) == 0 {
		if st := m.Header.Get("Status"); st != "" { // 503: no stream for the subject
			return strings.TrimSpace("status " + st + " " + m.Header.Get("Description"))
		}
		return "empty publish ack"
	}
	if !bytes.Contains(m.Data, []byte(`"error"`)) {
		return ""
	}
	var a struct {
		Error struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return "unparsable publish ack: " + string(m.Data)
	}
	return fmt.Sprintf("publish ack error %d: %s", a.Error.Code, a.Error.Description)
}

// watchdog cancels the run when publishes are outstanding and none has
// completed for the drain timeout, so a dead server cannot hang the tool.
func (r *produceRun) watchdog(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	return bench.Watchdog(ctx, cancel, &r.sent, &r.completed, r.cfg.drainTimeout, func() {
		r.cfg.log.Warn("nats-bench: no publish acknowledged; stopping", "for", r.cfg.drainTimeout)
	})
}

// fill puts the producer side's measurements into res.
func (r *produceRun) fill(res *bench.Result) {
	elapsed := time.Duration(0)
	if last := r.lastAck.Load(); last > r.warmupEndUnix {
		elapsed = time.Duration(last - r.warmupEndUnix)
	}
	setThroughput(res, r.measuredRecords.Load(), r.measuredBytes.Load(), elapsed)
	lat := r.lat.Summary()
	res.Latency = &lat
	res.LatencyClamped += r.lat.Clamped()
	r.errs.fill(res)
}

func (c *config) produceSetup() string {
	rate := "closed loop"
	if c.rate > 0 {
		rate = fmt.Sprintf("open loop at %g records/s", c.rate)
	}
	return fmt.Sprintf("streams %s-0..%d, %d B records, JetStream publish acks, %d producer(s), window %d, %s",
		c.stream, c.partitions-1, c.recordSize, c.producers, c.window, rate)
}

func runProduce(ctx context.Context, cfg *config) (*bench.Result, error) {
	admin, err := connect(cfg, "admin")
	if err != nil {
		return nil, err
	}
	err = ensureStreams(ctx, admin, cfg)
	admin.Close()
	if err != nil {
		return nil, err
	}
	r, err := newProduceRun(cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	start := time.Now()
	r.begin(bench.NewTimebase(start), start)
	stopProgress := startProgress(cfg.progress, r.tb.Start(), "acked", &r.all, r.lat)
	stopped := r.run(ctx)
	stopProgress()
	res := &bench.Result{Workload: "produce", Setup: cfg.produceSetup(), StoppedEarly: stopped}
	r.fill(res)
	if res.Records == 0 {
		return res, errNothingProduced
	}
	return res, nil
}
