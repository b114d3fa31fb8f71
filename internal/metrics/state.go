package metrics

import "github.com/prometheus/client_golang/prometheus"

// View is the broker state the scrape reads.
type View interface {
	// Partitions lists this broker's replicas.
	Partitions() []PartitionState
	// Controller reports the metadata view of the active controller: ok
	// when this broker leads the metadata quorum, with the number of
	// partitions without a leader.
	Controller() (active bool, offlinePartitions int)
	// GroupLags lists the lag of the groups coordinated here, for the
	// partitions this broker can see the log end of.
	GroupLags() []GroupLag
	// SegmentFiles reports the segment files open now, their cap
	// (log.max.open.files) and how many were closed to keep to it.
	SegmentFiles() (open, max int, evictions int64)
	// FetchSessions is the number of KIP-227 fetch sessions cached.
	FetchSessions() int
}

// PartitionState is one local replica as a scrape sees it.
type PartitionState struct {
	Topic           string
	Partition       int32
	Size            int64 // bytes
	LogStartOffset  int64
	LogEndOffset    int64
	Leader          bool
	UnderReplicated bool // led here, ISR smaller than the replicas
	Damaged         bool // the scrubber found damaged batches still in the log
}

// GroupLag is a group's committed offset against a partition's end.
type GroupLag struct {
	Group     string
	Topic     string
	Partition int32
	Committed int64
	End       int64 // high watermark
}

var (
	descSize         = prometheus.NewDesc("kafka_log_log_size", "Bytes of a partition's log on this broker.", []string{"topic", "partition"}, nil)
	descLEO          = prometheus.NewDesc("kafka_log_log_logendoffset", "A partition's log end offset on this broker.", []string{"topic", "partition"}, nil)
	descLSO          = prometheus.NewDesc("kafka_log_log_logstartoffset", "A partition's log start offset on this broker.", []string{"topic", "partition"}, nil)
	descUnder        = prometheus.NewDesc("kafka_server_replicamanager_underreplicatedpartitions", "Partitions led here whose ISR is smaller than their replicas.", nil, nil)
	descPartitions   = prometheus.NewDesc("kafka_server_replicamanager_partitioncount", "Replicas on this broker.", nil, nil)
	descLeaders      = prometheus.NewDesc("kafka_server_replicamanager_leadercount", "Partitions led by this broker.", nil, nil)
	descActive       = prometheus.NewDesc("kafka_controller_kafkacontroller_activecontrollercount", "1 on the broker leading the metadata quorum.", nil, nil)
	descOffline      = prometheus.NewDesc("kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions without a leader (reported by the active controller).", nil, nil)
	descLag          = prometheus.NewDesc("kafka_consumergroup_lag", "A group's committed offset behind the partition's high watermark (kafka_exporter's name).", []string{"consumergroup", "topic", "partition"}, nil)
	descCommitted    = prometheus.NewDesc("kafka_consumergroup_current_offset", "A group's committed offset (kafka_exporter's name).", []string{"consumergroup", "topic", "partition"}, nil)
	descGroupLagSum  = prometheus.NewDesc("kafka_consumergroup_lag_sum", "A group's total lag over the partitions seen here.", []string{"consumergroup", "topic"}, nil)
	descDamaged      = prometheus.NewDesc("gregor_storage_damaged_partitions", "Local replicas whose log holds batches the scrubber found damaged (refused to readers until repaired).", nil, nil)
	descFilesOpen    = prometheus.NewDesc("gregor_storage_open_segment_files", "Segment files with an open descriptor.", nil, nil)
	descFilesMax     = prometheus.NewDesc("gregor_storage_open_segment_files_max", "The cap on open segment files (log.max.open.files); idle ones beyond it are closed.", nil, nil)
	descFilesEvicted = prometheus.NewDesc("gregor_storage_segment_file_evictions_total", "Idle segment files closed to stay under the cap (reopened when next read or written).", nil, nil)
	descSessions     = prometheus.NewDesc("kafka_server_fetchsessioncache_numincrementalfetchsessions", "Incremental fetch sessions (KIP-227) cached.", nil, nil)
	stateDescriptors = []*prometheus.Desc{descSessions, descSize, descLEO, descLSO, descUnder, descPartitions, descLeaders, descActive, descOffline, descLag, descCommitted, descGroupLagSum, descDamaged, descFilesOpen, descFilesMax, descFilesEvicted}
)

type stateCollector struct{ v View }

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range stateDescriptors {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	var under, leaders, damaged int
	parts := c.v.Partitions()
	for _, p := range parts {
		lbl := []string{p.Topic, itoa(p.Partition)}
		ch <- prometheus.MustNewConstMetric(descSize, prometheus.GaugeValue, float64(p.Size), lbl...)
		ch <- prometheus.MustNewConstMetric(descLEO, prometheus.GaugeValue, float64(p.LogEndOffset), lbl...)
		ch <- prometheus.MustNewConstMetric(descLSO, prometheus.GaugeValue, float64(p.LogStartOffset), lbl...)
		if p.Leader {
			leaders++
		}
		if p.UnderReplicated {
			under++
		}
		if p.Damaged {
			damaged++
		}
	}
	ch <- prometheus.MustNewConstMetric(descUnder, prometheus.GaugeValue, float64(under))
	ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(len(parts)))
	ch <- prometheus.MustNewConstMetric(descLeaders, prometheus.GaugeValue, float64(leaders))
	ch <- prometheus.MustNewConstMetric(descDamaged, prometheus.GaugeValue, float64(damaged))
	open, limit, evicted := c.v.SegmentFiles()
	ch <- prometheus.MustNewConstMetric(descFilesOpen, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(descFilesMax, prometheus.GaugeValue, float64(limit))
	ch <- prometheus.MustNewConstMetric(descFilesEvicted, prometheus.CounterValue, float64(evicted))
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(c.v.FetchSessions()))
	active, offline := c.v.Controller()
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, boolGauge(active))
	if active {
		ch <- prometheus.MustNewConstMetric(descOffline, prometheus.GaugeValue, float64(offline))
	}
	sums := map[[2]string]int64{}
	for _, l := range c.v.GroupLags() {
		lbl := []string{l.Group, l.Topic, itoa(l.Partition)}
		lag := max(l.End-l.Committed, 0)
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(lag), lbl...)
		ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.GaugeValue, float64(l.Committed), lbl...)
		sums[[2]string{l.Group, l.Topic}] += lag
	}
	for k, v := range sums {
		ch <- prometheus.MustNewConstMetric(descGroupLagSum, prometheus.GaugeValue, float64(v), k[0], k[1])
	}
}
