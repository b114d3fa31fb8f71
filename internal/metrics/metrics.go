// Package metrics is the broker's Prometheus instrumentation, under the
// names the Prometheus JMX exporter gives Kafka's MBeans (its kafka-2_0_0
// rules: kafka_server_brokertopicmetrics_messagesin_total and so on), so
// that Kafka dashboards work, and kafka_exporter's kafka_consumergroup_lag.
//
// Counters on the request path are bumped by the code that sees the event
// (cached per topic, no allocation after the first); everything that is
// state (log sizes, offsets, partition counts, lag) is read when Prometheus
// scrapes, from the View the node gives, so serving pays nothing for it.
// A nil *Metrics is valid and records nothing.
package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds one broker's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	errors          *prometheus.CounterVec
	connections     prometheus.Gauge
	connCreated     prometheus.Counter
	messagesIn      *prometheus.CounterVec
	bytesIn         *prometheus.CounterVec
	bytesOut        *prometheus.CounterVec
	failedProduce   *prometheus.CounterVec
	failedFetch     *prometheus.CounterVec
	isrShrinks      prometheus.Counter
	isrExpands      prometheus.Counter
	flushTime       prometheus.Histogram
	rebalances      prometheus.Counter
	corruptBatches  *prometheus.CounterVec

	topics sync.Map // topic name -> *Topic
	apis   sync.Map // api name -> *API
}

// New registers every collector, the Go runtime's and the process's, and
// the state collector reading view (nil: none).
func New(view View) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_network_requestmetrics_requests_total", Help: "Requests served, by API (Kafka's RequestsPerSec).",
	}, []string{"request"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kafka_network_requestmetrics_totaltime_seconds", Help: "Time from a request's arrival to its answer, by API (Kafka's TotalTimeMs), long polls included.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
	}, []string{"request"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_network_requestmetrics_errors_total", Help: "Error codes answered, by Kafka error name (Kafka's ErrorsPerSec).",
	}, []string{"error"})
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kafka_server_socketservermetrics_connection_count", Help: "Open client connections.",
	})
	m.connCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kafka_server_socketservermetrics_connection_creation_total", Help: "Client connections accepted.",
	})
	topicCounter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"topic"})
	}
	m.messagesIn = topicCounter("kafka_server_brokertopicmetrics_messagesin_total", "Records appended as a leader, by topic.")
	m.bytesIn = topicCounter("kafka_server_brokertopicmetrics_bytesin_total", "Record batch bytes appended as a leader, by topic.")
	m.bytesOut = topicCounter("kafka_server_brokertopicmetrics_bytesout_total", "Record batch bytes sent to consumers and followers, by topic.")
	m.failedProduce = topicCounter("kafka_server_brokertopicmetrics_failedproducerequests_total", "Partition produces answered with an error, by topic.")
	m.failedFetch = topicCounter("kafka_server_brokertopicmetrics_failedfetchrequests_total", "Partition fetches answered with an error, by topic.")
	m.isrShrinks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kafka_server_replicamanager_isrshrinks_total", Help: "ISR shrinks committed for partitions led here.",
	})
	m.isrExpands = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kafka_server_replicamanager_isrexpands_total", Help: "ISR expansions committed for partitions led here.",
	})
	m.flushTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "kafka_log_logflushstats_logflushtime_seconds", Help: "Duration of log fsyncs (Kafka's LogFlushRateAndTimeMs).",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 14),
	})
	m.rebalances = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kafka_coordinator_group_rebalances_total", Help: "Consumer group rebalances started by the groups coordinated here.",
	})
	m.corruptBatches = topicCounter("gregor_storage_corrupt_batches_total", "Damaged batches (ranges of them) the scrubber found in local logs, by topic.")
	for _, c := range []prometheus.Collector{m.corruptBatches, m.requests, m.requestDuration, m.errors, m.connections, m.connCreated,
		m.messagesIn, m.bytesIn, m.bytesOut, m.failedProduce, m.failedFetch, m.isrShrinks, m.isrExpands, m.flushTime, m.rebalances} {
		f(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if view != nil {
		f(stateCollector{view})
	}
	return m
}

// Topic is one topic's request-path counters.
type Topic struct {
	MessagesIn, BytesIn, BytesOut, FailedProduce, FailedFetch prometheus.Counter
}

var noTopic = &Topic{nopCounter{}, nopCounter{}, nopCounter{}, nopCounter{}, nopCounter{}}

// Topic returns topic's counters (nil Metrics: counters that count nothing).
func (m *Metrics) Topic(name string) *Topic {
	if m == nil {
		return noTopic
	}
	if t, ok := m.topics.Load(name); ok {
		return t.(*Topic)
	}
	t := &Topic{
		MessagesIn: m.messagesIn.WithLabelValues(name), BytesIn: m.bytesIn.WithLabelValues(name), BytesOut: m.bytesOut.WithLabelValues(name),
		FailedProduce: m.failedProduce.WithLabelValues(name), FailedFetch: m.failedFetch.WithLabelValues(name),
	}
	actual, _ := m.topics.LoadOrStore(name, t)
	return actual.(*Topic)
}

// TopicDeleted drops a deleted topic's series.
func (m *Metrics) TopicDeleted(name string) {
	if m == nil {
		return
	}
	m.topics.Delete(name)
	for _, v := range []*prometheus.CounterVec{m.messagesIn, m.bytesIn, m.bytesOut, m.failedProduce, m.failedFetch, m.corruptBatches} {
		v.DeleteLabelValues(name)
	}
}

// API is one API's request counters.
type API struct {
	Requests prometheus.Counter
	Duration prometheus.Observer
}

// Request records one request of the named API that took d.
func (m *Metrics) Request(api string, d time.Duration) {
	if m == nil {
		return
	}
	a, ok := m.apis.Load(api)
	if !ok {
		a, _ = m.apis.LoadOrStore(api, &API{Requests: m.requests.WithLabelValues(api), Duration: m.requestDuration.WithLabelValues(api)})
	}
	a.(*API).Requests.Inc()
	a.(*API).Duration.Observe(d.Seconds())
}

// Error records an error code answered (its Kafka name).
func (m *Metrics) Error(name string) {
	if m != nil {
		m.errors.WithLabelValues(name).Inc()
	}
}

// Connection records a connection opened (+1) or closed (-1).
func (m *Metrics) Connection(delta int) {
	if m == nil {
		return
	}
	if delta > 0 {
		m.connCreated.Inc()
	}
	m.connections.Add(float64(delta))
}

// ISRChange records a committed ISR change of a partition led here.
func (m *Metrics) ISRChange(from, to int) {
	switch {
	case m == nil:
	case to < from:
		m.isrShrinks.Inc()
	case to > from:
		m.isrExpands.Inc()
	}
}

// Flush records one log fsync.
func (m *Metrics) Flush(d time.Duration) {
	if m != nil {
		m.flushTime.Observe(d.Seconds())
	}
}

// Damage records n damaged ranges the scrubber found in a partition's log.
func (m *Metrics) Damage(topic string, partition int32, n int) {
	if m != nil {
		m.corruptBatches.WithLabelValues(topic).Add(float64(n))
	}
}

// Rebalance records a group rebalance started.
func (m *Metrics) Rebalance() {
	if m != nil {
		m.rebalances.Inc()
	}
}

// nopCounter counts nothing (a nil Metrics' topics).
type nopCounter struct{ prometheus.Counter }

func (nopCounter) Inc()        {}
func (nopCounter) Add(float64) {}
func itoa(i int32) string      { return strconv.Itoa(int(i)) }
func boolGauge(b bool) float64 { return map[bool]float64{false: 0, true: 1}[b] }
