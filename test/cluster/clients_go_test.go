package cluster

// The Go clients of TestClusterClients, run in the test process: sarama
// and segmentio/kafka-go.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
)

// clientInterval is how often each client sends a record.
const clientInterval = 20 * time.Millisecond

// produceEvery calls send with seqs 0, 1, 2 ... once per clientInterval
// until stop is closed, then calls flush. send may block (a client's full
// buffer); it gets a context cancelled by stop.
func produceEvery(r *clientRun, stop <-chan struct{}, send func(ctx context.Context, seq int64), flush func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stop
		cancel()
	}()
	go func() {
		defer flush()
		tick := time.NewTicker(clientInterval)
		defer tick.Stop()
		for seq := int64(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			r.sending(seq)
			send(ctx, seq)
		}
	}()
}

// stopOnce returns a channel and a function that closes it once.
func stopOnce() (chan struct{}, func()) {
	ch := make(chan struct{})
	return ch, sync.OnceFunc(func() { close(ch) })
}

// saramaDriver: an idempotent AsyncProducer (Producer.Idempotent, which
// sarama allows only with RequiredAcks WaitForAll, Net.MaxOpenRequests 1
// and a protocol version of 0.11 or later) with retries enough to outlast
// a failover, and a ConsumerGroup marking each message (auto-commit).
func saramaDriver() *clientDriver {
	return &clientDriver{
		name:       "sarama",
		idempotent: true,
		available:  func() error { return nil },
		start:      startSarama,
	}
}

func saramaConfig(r *clientRun, role string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = r.drv.name + "-" + role
	cfg.Version = sarama.V3_6_0_0
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 30
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	cfg.Metadata.RefreshFrequency = 5 * time.Second
	return cfg
}

func startSarama(r *clientRun) {
	t := r.t
	prevLogger := sarama.Logger
	sarama.Logger = saramaLog{r} // one global logger
	t.Cleanup(func() { sarama.Logger = prevLogger })
	addrs := r.c.KafkaAddrs()

	pcfg := saramaConfig(r, "producer")
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	pcfg.Producer.Idempotent = true
	pcfg.Net.MaxOpenRequests = 1
	pcfg.Producer.Retry.Max = 100
	pcfg.Producer.Retry.Backoff = 200 * time.Millisecond
	pcfg.Producer.Timeout = 5 * time.Second
	pcfg.Producer.Flush.Frequency = 5 * time.Millisecond
	pcfg.Producer.Return.Successes = true
	pcfg.Producer.Return.Errors = true
	prod, err := sarama.NewAsyncProducer(addrs, pcfg)
	if err != nil {
		t.Fatalf("sarama.NewAsyncProducer: %v", err)
	}
	var results sync.WaitGroup
	results.Add(2)
	go func() {
		defer results.Done()
		for m := range prod.Successes() {
			r.ack(m.Metadata.(int64), m.Offset)
		}
	}()
	go func() {
		defer results.Done()
		for e := range prod.Errors() {
			r.fail(e.Msg.Metadata.(int64), e.Err.Error())
		}
	}()
	stop, stopProducing := stopOnce()
	produceEvery(r, stop, func(ctx context.Context, seq int64) {
		m := &sarama.ProducerMessage{Topic: r.topic, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(strconv.FormatInt(seq, 10)), Metadata: seq}
		select {
		case prod.Input() <- m:
		case <-ctx.Done():
			r.fail(seq, "not sent: the producer's input was full when the test stopped producing")
		}
	}, func() {
		prod.AsyncClose() // flushes, then closes Successes and Errors
		results.Wait()
		r.setFlushed()
	})
	r.stopProducing = stopProducing

	ccfg := saramaConfig(r, "consumer")
	ccfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	ccfg.Consumer.Offsets.AutoCommit.Interval = 500 * time.Millisecond
	ccfg.Consumer.Group.Session.Timeout = 6 * time.Second
	ccfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	ccfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	ccfg.Consumer.Group.Rebalance.Retry.Backoff = 200 * time.Millisecond
	ccfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	ccfg.Consumer.Retry.Backoff = 200 * time.Millisecond
	ccfg.Consumer.Return.Errors = true
	grp, err := sarama.NewConsumerGroup(addrs, r.group, ccfg)
	if err != nil {
		t.Fatalf("sarama.NewConsumerGroup: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for e := range grp.Errors() {
			fmt.Fprintf(r.logs, "consumer error: %v\n", e)
		}
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := grp.Consume(ctx, []string{r.topic}, saramaHandler{r}); err != nil {
				fmt.Fprintf(r.logs, "%s Consume: %v\n", time.Now().Format("15:04:05.000"), err)
				select { // back off before joining again
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
	}()
	r.shutdown = sync.OnceFunc(func() {
		stopProducing()
		cancel()
		if err := grp.Close(); err != nil { // commits, leaves the group
			fmt.Fprintf(r.logs, "closing the consumer group: %v\n", err)
		}
		wg.Wait()
	})
	t.Cleanup(r.shutdown)
}

// saramaHandler reports every message a claim delivers and marks it (the
// consumer group commits marked offsets every AutoCommit.Interval).
type saramaHandler struct{ r *clientRun }

func (h saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	fmt.Fprintf(h.r.logs, "%s generation %d assigned %v\n", time.Now().Format("15:04:05.000"), s.GenerationID(), s.Claims())
	return nil
}

func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.r.consume(m.Partition, m.Offset, string(m.Value))
		s.MarkMessage(m, "")
	}
	return nil
}

type saramaLog struct{ r *clientRun }

func (l saramaLog) Print(v ...any) { fmt.Fprint(l.r.logs, v...) }
func (l saramaLog) Printf(format string, v ...any) {
	fmt.Fprintf(l.r.logs, time.Now().Format("15:04:05.000 ")+format, v...)
}
func (l saramaLog) Println(v ...any) { fmt.Fprintln(l.r.logs, v...) }

// kafkaGoDriver: kafka-go's Writer, asynchronous with a Completion
// callback, RequiredAcks RequireAll and MaxAttempts enough to outlast a
// failover; kafka-go has no idempotent producer (a retried batch may be
// written twice). Its Reader with a GroupID commits every CommitInterval.
func kafkaGoDriver() *clientDriver {
	return &clientDriver{
		name:       "kafka-go",
		idempotent: false,
		available:  func() error { return nil },
		start:      startKafkaGo,
	}
}

func startKafkaGo(r *clientRun) {
	logf := func(prefix string) kafka.LoggerFunc {
		return func(f string, a ...any) {
			fmt.Fprintf(r.logs, time.Now().Format("15:04:05.000 ")+prefix+f+"\n", a...)
		}
	}
	w := &kafka.Writer{
		Addr:            kafka.TCP(r.c.KafkaAddrs()...),
		Topic:           r.topic,
		RequiredAcks:    kafka.RequireAll,
		Async:           true,
		BatchTimeout:    5 * time.Millisecond,
		MaxAttempts:     100,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
		Transport: &kafka.Transport{
			ClientID:    r.drv.name + "-producer",
			DialTimeout: 2 * time.Second,
			MetadataTTL: time.Second,
		},
		ErrorLogger: logf("writer: "),
		Completion: func(msgs []kafka.Message, err error) {
			for _, m := range msgs {
				seq, perr := strconv.ParseInt(string(m.Value), 10, 64)
				switch {
				case perr != nil:
					r.problem("completion for a message %q", m.Value)
				case err != nil:
					r.fail(seq, err.Error())
				default:
					r.ack(seq, m.Offset)
				}
			}
		},
	}
	stop, stopProducing := stopOnce()
	produceEvery(r, stop, func(_ context.Context, seq int64) {
		// Async: returns once the message is queued. Not under the stop
		// context: a record queued as the test stops is flushed by Close,
		// not failed by the cancellation racing the queueing.
		if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte("k"), Value: []byte(strconv.FormatInt(seq, 10))}); err != nil {
			r.fail(seq, "WriteMessages: "+err.Error())
		}
	}, func() {
		if err := w.Close(); err != nil { // flushes, waits for the completions
			fmt.Fprintf(r.logs, "closing the writer: %v\n", err)
		}
		r.setFlushed()
	})
	r.stopProducing = stopProducing

	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           r.c.KafkaAddrs(),
		GroupID:           r.group,
		Topic:             r.topic,
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           100 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    500 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  200 * time.Millisecond,
		ReadBackoffMin:    100 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		Dialer:            &kafka.Dialer{ClientID: r.drv.name + "-consumer", Timeout: 2 * time.Second},
		ErrorLogger:       logf("reader: "),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := rd.ReadMessage(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				fmt.Fprintf(r.logs, "%s ReadMessage: %v\n", time.Now().Format("15:04:05.000"), err)
				select { // back off before reading again
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			r.consume(int32(m.Partition), m.Offset, string(m.Value))
		}
	}()
	r.shutdown = sync.OnceFunc(func() {
		stopProducing()
		cancel()
		<-done
		if err := rd.Close(); err != nil { // commits, leaves the group
			fmt.Fprintf(r.logs, "closing the reader: %v\n", err)
		}
	})
	r.t.Cleanup(r.shutdown)
}
