package verify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/gregor-dev/gregor/internal/bench"
)

// produce runs the producers for the configured duration, waits for their
// in-flight records (at most DrainTimeout) and closes them. Records still
// unanswered then stay Pending.
func (r *run) produce(ctx context.Context) error {
	cfg := r.cfg
	pctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	errs := make([]error, cfg.Producers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range cfg.Producers {
		cl, err := kgo.NewClient(r.producerOpts(i)...)
		if err != nil {
			return fmt.Errorf("verify: producer client: %w", err)
		}
		var pacer *bench.Pacer
		if cfg.Rate > 0 {
			pacer = bench.NewPacer(bench.SystemClock{}, start, cfg.Rate/float64(cfg.Producers))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			if cfg.Transactional {
				errs[i] = r.produceTransactions(ctx, pctx, cl, i, pacer)
			} else {
				r.producePlain(ctx, pctx, cl, i, pacer)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *run) producerOpts(i int) []kgo.Opt {
	cfg := r.cfg
	opts := append(r.clientOpts(fmt.Sprintf("p%d", i)),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(cfg.Acks.Kgo()),
		kgo.ProducerBatchCompression(cfg.Compression),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RecordDeliveryTimeout(cfg.Timeout),
		kgo.MaxBufferedRecords(4096),
	)
	switch {
	case cfg.Transactional:
		opts = append(opts, kgo.TransactionalID(fmt.Sprintf("gregor-verify-%s-p%d", cfg.Run, i)),
			kgo.TransactionTimeout(max(cfg.Timeout, 10*time.Second)))
	case !cfg.Idempotent:
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts
}

// nextValue waits for the pacer and returns the next value of producer,
// or false once pctx (the producing phase) ends.
func (r *run) nextValue(pctx context.Context, producer int, seq int64, pacer *bench.Pacer) (string, bool) {
	if pacer != nil {
		if _, err := pacer.Wait(pctx, seq); err != nil {
			return "", false
		}
	}
	if pctx.Err() != nil {
		return "", false
	}
	return FormatValue(r.cfg.Run, producer, seq), true
}

// producePlain sends values until pctx ends, then flushes within
// DrainTimeout (bounded by ctx, the whole run).
func (r *run) producePlain(ctx, pctx context.Context, cl *kgo.Client, producer int, pacer *bench.Pacer) {
	for seq := int64(0); ; seq++ {
		v, ok := r.nextValue(pctx, producer, seq, pacer)
		if !ok {
			break
		}
		idx := r.addSend(v)
		// Produce is given ctx, not pctx: the end of the producing phase
		// must not fail records already handed over.
		cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(rec *kgo.Record, err error) {
			if err != nil {
				r.resolve(idx, outcomeOf(err), rec.Partition, -1, err)
				return
			}
			off := rec.Offset
			if r.cfg.Acks == bench.AcksNone {
				off = -1
			}
			r.resolve(idx, Acked, rec.Partition, off, nil)
		})
	}
	fctx, cancel := context.WithTimeout(ctx, r.cfg.DrainTimeout)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		r.cfg.Logger.Warn("verify: producer did not flush", "producer", producer, "err", err)
	}
}

// txnRecord is one record of the transaction in progress.
type txnRecord struct {
	idx       int
	partition int32
	offset    int64
	err       error
}

// produceTransactions writes transactions of TxnRecords values, aborting
// every AbortEvery-th, until pctx ends. The values of a transaction get
// their outcome when it ends: Acked if committed, Aborted if aborted,
// Indeterminate if ending it failed.
func (r *run) produceTransactions(ctx, pctx context.Context, cl *kgo.Client, producer int, pacer *bench.Pacer) error {
	seq := int64(0)
	for txn := 1; pctx.Err() == nil; txn++ {
		if err := cl.BeginTransaction(); err != nil {
			return fmt.Errorf("verify: producer %d: begin transaction: %w", producer, err)
		}
		recs := make([]txnRecord, 0, r.cfg.TxnRecords)
		var mu sync.Mutex
		for range r.cfg.TxnRecords {
			v, ok := r.nextValue(pctx, producer, seq, pacer)
			if !ok {
				break
			}
			seq++
			recs = append(recs, txnRecord{idx: r.addSend(v), offset: -1})
			i := len(recs) - 1
			cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(rec *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				recs[i].partition, recs[i].err = rec.Partition, err
				if err == nil {
					recs[i].offset = rec.Offset
				}
			})
		}
		fctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		flushErr := cl.Flush(fctx)
		mu.Lock()
		failed := flushErr != nil
		for _, rec := range recs {
			failed = failed || rec.err != nil
		}
		mu.Unlock()
		abort := failed || (r.cfg.AbortEvery > 0 && txn%r.cfg.AbortEvery == 0)
		end := kgo.TryCommit
		if abort {
			end = kgo.TryAbort
		}
		endErr := cl.EndTransaction(fctx, end)
		cancel()
		mu.Lock()
		for _, rec := range recs {
			switch {
			case endErr != nil:
				r.resolve(rec.idx, Indeterminate, rec.partition, -1, fmt.Errorf("end transaction: %w", endErr))
			case abort:
				r.resolve(rec.idx, Aborted, rec.partition, rec.offset, rec.err)
			default:
				r.resolve(rec.idx, Acked, rec.partition, rec.offset, nil)
			}
		}
		mu.Unlock()
		if endErr != nil {
			if len(recs) > 0 && r.acked.Load() == 0 {
				// Not one transaction through: the cluster does not
				// take them.
				return fmt.Errorf("%w: producer %d: %w", ErrNoTransactions, producer, endErr)
			}
			r.cfg.Logger.Warn("verify: end transaction failed", "producer", producer, "err", endErr)
		}
	}
	return nil
}
