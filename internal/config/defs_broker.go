package config

import (
	"fmt"
	"net"
	"sort"
	"strings"
)

// brokerKey defines one broker (server.properties) key.
type brokerKey struct {
	name    string
	typ     Type
	def     defaultValue
	dynamic bool // Kafka lets it change at runtime (cluster-wide or per-broker dynamic config)
	rule    rule // nil: any value of the type
	doc     string
}

func (k *brokerKey) spec() spec { return spec{typ: k.typ, nullable: !k.def.set, rule: k.rule} }

// defaultValue is a key's built-in default in string form; the zero value
// means null (Kafka's "no default": the key has no value unless set).
type defaultValue struct {
	s   string
	set bool
}

func d(s string) defaultValue { return defaultValue{s: s, set: true} }

var null defaultValue

const (
	dyn = true  // dynamic: may be changed without a restart
	ro  = false // read-only: static, needs a restart
)

const maxLong = "9223372036854775807"

// brokerTable lists every broker key with Kafka's name, type and default
// (Gregor's own defaults for node.id and log.dirs), whether Kafka treats it as
// dynamic, and its constraint.
var brokerTable = []brokerKey{
	{"node.id", TypeInt, d("1"), ro, atLeast(0), "Identifier of this node in the cluster; unique and non-negative."},
	{"log.dirs", TypeString, d("./gregor-data"), ro, logDirsRule, "Directory holding this broker's partition data; Gregor supports exactly one."},
	{"listeners", TypeString, d("PLAINTEXT://:9092"), ro, listenersRule, "Address to accept client connections on, as PLAINTEXT://host:port or host:port; a CONTROLLER://host:port entry is the metadata quorum (Raft) listener."},
	{"advertised.listeners", TypeString, null, ro, advertisedListenersRule, "Address handed to clients in metadata; derived from listeners when unset."},
	{"num.partitions", TypeInt, d("1"), ro, atLeast(1), "Partition count of topics created without one."},
	{"default.replication.factor", TypeInt, d("1"), ro, atLeast(1), "Replication factor of topics created without one."},
	{"auto.create.topics.enable", TypeBoolean, d("true"), ro, nil, "Create a missing topic when a client asks for its metadata."},
	{"delete.topic.enable", TypeBoolean, d("true"), ro, nil, "Let DeleteTopics requests remove topics."},
	{"message.max.bytes", TypeInt, d("1048588"), dyn, atLeast(0), "Largest record batch, after compression, a topic accepts."},
	{"socket.request.max.bytes", TypeInt, d("104857600"), ro, atLeast(1), "Largest request frame read from a connection; bigger frames close it."},
	{"socket.send.buffer.bytes", TypeInt, d("102400"), ro, atLeast(-1), "Kernel send buffer of client sockets; -1 keeps the OS default."},
	{"socket.receive.buffer.bytes", TypeInt, d("102400"), ro, atLeast(-1), "Kernel receive buffer of client sockets; -1 keeps the OS default."},
	{"num.network.threads", TypeInt, d("3"), dyn, atLeast(1), "Kafka's network thread count; accepted for compatibility, Gregor serves each connection on its own goroutines."},
	{"num.io.threads", TypeInt, d("8"), dyn, atLeast(1), "Kafka's request handler thread count; accepted for compatibility."},
	{"log.segment.bytes", TypeInt, d("1073741824"), dyn, atLeast(14), "Size at which the active segment is closed and a new one started."},
	{"log.roll.ms", TypeLong, null, dyn, atLeast(1), "Age at which the active segment is rolled even when not full; takes precedence over log.roll.hours."},
	{"log.roll.hours", TypeInt, d("168"), ro, atLeast(1), "Segment roll age in hours, used when log.roll.ms is unset."},
	{"log.roll.jitter.ms", TypeLong, null, dyn, atLeast(0), "Bound of a random amount taken off the roll age so partitions do not roll together; takes precedence over log.roll.jitter.hours."},
	{"log.roll.jitter.hours", TypeInt, d("0"), ro, atLeast(0), "Roll jitter in hours, used when log.roll.jitter.ms is unset."},
	{"log.index.interval.bytes", TypeInt, d("4096"), dyn, atLeast(0), "Log bytes between two entries of the sparse offset index."},
	{"log.index.size.max.bytes", TypeInt, d("10485760"), dyn, atLeast(4), "Largest offset or time index file; a full index rolls the segment."},
	{"log.flush.interval.messages", TypeLong, d(maxLong), dyn, atLeast(1), "Records appended to a partition before it is forced to disk."},
	{"log.flush.interval.ms", TypeLong, null, dyn, atLeast(0), "Longest time appended data may stay unflushed; log.flush.scheduler.interval.ms applies when unset."},
	{"log.flush.scheduler.interval.ms", TypeLong, d(maxLong), ro, atLeast(0), "How often the flusher looks for logs due a flush."},
	{"log.flush.offset.checkpoint.interval.ms", TypeInt, d("60000"), ro, atLeast(0), "How often each log directory's recovery-point checkpoint is written."},
	{"log.retention.ms", TypeLong, null, dyn, atLeast(-1), "Age after which closed segments are deleted, -1 for never; takes precedence over minutes and hours."},
	{"log.retention.minutes", TypeInt, null, ro, atLeast(-1), "Retention in minutes, used when log.retention.ms is unset."},
	{"log.retention.hours", TypeInt, d("168"), ro, atLeast(-1), "Retention in hours, used when log.retention.ms and log.retention.minutes are unset."},
	{"log.retention.bytes", TypeLong, d("-1"), dyn, nil, "Size a partition may grow to before its oldest segments are deleted; negative for no limit."},
	{"log.retention.check.interval.ms", TypeLong, d("300000"), ro, atLeast(1), "How often segments are checked for deletion."},
	{"log.segment.delete.delay.ms", TypeLong, d("60000"), dyn, atLeast(0), "Wait between a segment being dropped from the log and its files being removed."},
	{"log.cleanup.policy", TypeList, d("delete"), dyn, cleanupPolicies, "What to do with old segments: delete them, compact them by key, or both."},
	{"log.cleaner.enable", TypeBoolean, d("true"), ro, nil, "Run the log cleaner; compacted topics such as __consumer_offsets need it."},
	{"log.cleaner.delete.retention.ms", TypeLong, d("86400000"), dyn, atLeast(0), "How long tombstones stay in a compacted log so consumers see the delete."},
	{"log.cleaner.min.cleanable.ratio", TypeDouble, d("0.5"), dyn, ratio, "Share of not-yet-compacted bytes a log needs before it is compacted."},
	{"log.cleaner.min.compaction.lag.ms", TypeLong, d("0"), dyn, atLeast(0), "Age a record must reach before compaction may remove it."},
	{"log.cleaner.max.compaction.lag.ms", TypeLong, d(maxLong), dyn, atLeast(1), "Age after which a record's log becomes due for compaction regardless of the dirty ratio."},
	{"log.cleaner.backoff.ms", TypeLong, d("15000"), dyn, atLeast(0), "Sleep of a cleaner thread that found nothing to clean."},
	{"log.cleaner.dedupe.buffer.size", TypeLong, d("134217728"), dyn, nil, "Memory for the key maps of all cleaner threads together."},
	{"log.cleaner.threads", TypeInt, d("1"), dyn, atLeast(0), "Number of compaction threads."},
	{"log.cleaner.io.max.bytes.per.second", TypeDouble, d("1.7976931348623157E308"), dyn, nil, "Cap on the cleaner's combined read and write rate."},
	{"log.message.timestamp.type", TypeString, d("CreateTime"), dyn, timestampTypes, "Stored timestamp: the producer's (CreateTime) or the broker's append time (LogAppendTime)."},
	{"log.message.timestamp.before.max.ms", TypeLong, d(maxLong), dyn, atLeast(0), "How far behind the broker clock a CreateTime timestamp may be."},
	{"log.message.timestamp.after.max.ms", TypeLong, d(maxLong), dyn, atLeast(0), "How far ahead of the broker clock a CreateTime timestamp may be."},
	{"compression.type", TypeString, d("producer"), dyn, compressionTypes, "Codec of stored batches; producer keeps whatever the producer used."},
	{"min.insync.replicas", TypeInt, d("1"), dyn, atLeast(1), "In-sync replicas needed for an acks=all write to succeed."},
	{"unclean.leader.election.enable", TypeBoolean, d("false"), dyn, nil, "Let an out-of-sync replica become leader, at the cost of losing acknowledged data."},
	{"log.preallocate", TypeBoolean, d("false"), dyn, nil, "Reserve the full segment size on disk when a segment is created."},
	{"log.message.downconversion.enable", TypeBoolean, d("true"), dyn, nil, "Convert batches to older formats for fetch requests too old to read v2."},
	{"offsets.topic.num.partitions", TypeInt, d("50"), ro, atLeast(1), "Partition count of __consumer_offsets; fixed once the topic exists."},
	{"offsets.topic.replication.factor", TypeShort, d("3"), ro, atLeast(1), "Replication factor of __consumer_offsets."},
	{"offsets.retention.minutes", TypeInt, d("10080"), ro, atLeast(1), "How long an empty group's committed offsets are kept."},
	{"offsets.retention.check.interval.ms", TypeLong, d("600000"), ro, atLeast(1), "How often expired offsets are looked for."},
	{"group.initial.rebalance.delay.ms", TypeInt, d("3000"), ro, atLeast(0), "Wait for more members before a new group's first rebalance."},
	{"group.min.session.timeout.ms", TypeInt, d("6000"), ro, atLeast(0), "Smallest session timeout a group member may ask for."},
	{"group.max.session.timeout.ms", TypeInt, d("1800000"), ro, atLeast(0), "Largest session timeout a group member may ask for."},
	{"group.max.size", TypeInt, d("2147483647"), ro, atLeast(1), "Most members one consumer group may have."},
	{"transactional.id.expiration.ms", TypeInt, d("604800000"), ro, atLeast(1), "Idle time after which a transactional id's state is dropped."},
	{"transaction.max.timeout.ms", TypeInt, d("900000"), ro, atLeast(1), "Largest transaction timeout a producer may ask for."},
	{"producer.id.expiration.ms", TypeInt, d("86400000"), dyn, atLeast(1), "Idle time after which a partition forgets a producer id's sequence state."},
	{"producer.id.expiration.check.interval.ms", TypeInt, d("600000"), ro, atLeast(1), "How often partitions drop the state of expired producer ids."},
	{"max.incremental.fetch.session.cache.slots", TypeInt, d("1000"), ro, atLeast(0), "Incremental fetch sessions the broker keeps."},
	{"broker.rack", TypeString, null, ro, nil, "Rack or zone of this broker, for rack-aware replica placement."},
	{"controller.quorum.voters", TypeList, d(""), ro, votersRule, "Metadata quorum voters, as id@host:port, comma separated."},
	{"controller.listener.names", TypeString, null, ro, nil, "Names of the listeners the controller uses."},
	{"process.roles", TypeList, d("broker,controller"), ro, nonEmptyList("broker", "controller"), "Roles this node plays: broker, controller or both."},
	{"replica.lag.time.max.ms", TypeLong, d("30000"), ro, atLeast(0), "Time a follower may fall behind before it leaves the ISR."},
	{"replica.fetch.max.bytes", TypeInt, d("1048576"), ro, atLeast(0), "Bytes a follower asks for per partition in one fetch."},
	{"replica.fetch.response.max.bytes", TypeInt, d("10485760"), ro, atLeast(0), "Bytes a follower asks for in one fetch, over all partitions."},
	{"replica.fetch.wait.max.ms", TypeInt, d("500"), ro, atLeast(0), "Longest time a follower's fetch waits at the leader for new data."},
	{"replica.fetch.min.bytes", TypeInt, d("1"), ro, atLeast(0), "Bytes a follower's fetch waits for at the leader."},
	{"replica.fetch.backoff.ms", TypeInt, d("1000"), ro, atLeast(0), "Pause after a failed follower fetch."},
	{"leader.imbalance.check.interval.seconds", TypeLong, d("300"), ro, atLeast(1), "How often the controller moves leadership back to preferred replicas."},
	{"broker.session.timeout.ms", TypeInt, d("9000"), ro, atLeast(1), "Heartbeat silence after which the controller fences a broker."},
	{"broker.heartbeat.interval.ms", TypeInt, d("2000"), ro, atLeast(1), "Interval between a broker's heartbeats to the controller."},
	{"auto.leader.rebalance.enable", TypeBoolean, d("true"), ro, nil, "Move leadership back to preferred replicas in the background."},
	{"connections.max.idle.ms", TypeLong, d("600000"), ro, nil, "Idle time after which a client connection is closed."},
	{"queued.max.requests", TypeInt, d("500"), ro, atLeast(1), "Requests that may wait for a handler before connections stop being read."},
	{"queued.max.request.bytes", TypeLong, d("-1"), ro, nil, "Bytes the requests being received or served may hold together before connections stop being read; -1 (Kafka's default, unbounded there) means socket.request.max.bytes."},
	{"num.recovery.threads.per.data.dir", TypeInt, d("1"), dyn, atLeast(1), "Threads per log directory that recover logs at start-up and flush them at shutdown."},
	{"request.timeout.ms", TypeInt, d("30000"), ro, atLeast(0), "How long the broker waits for answers to its own requests to other nodes."},
	{"cluster.id", TypeString, null, ro, nil, "Cluster identifier; when unset the broker generates one and persists it."},
	// Gregor's own keys (not Kafka's).
	{"metrics.listen", TypeString, d(":9644"), ro, metricsListenRule, "HTTP listener for Prometheus /metrics, /healthz and /readyz, host:port; empty turns it off."},
}

// brokerAliases are second names for a key. Setting either name sets the
// value; DescribeConfigs lists both.
var brokerAliases = []struct{ name, of, doc string }{
	{"broker.id", "node.id", "Older name of node.id; setting either sets both."},
	{"log.dir", "log.dirs", "Older name of log.dirs; setting either sets both."},
}

// link is one broker key in a topic config's resolution chain; scale turns
// its value into the topic config's unit (hours to milliseconds …).
type link struct {
	key   string
	scale int64
}

// chain lists broker keys in precedence order: the first with a value wins.
// Its first key is Kafka's primary synonym of the topic config.
type chain []link

func (c chain) names() []string {
	names := make([]string, len(c))
	for i, l := range c {
		names[i] = l.key
	}
	return names
}

const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
)

var (
	rollChain       = chain{{"log.roll.ms", 1}, {"log.roll.hours", msPerHour}}
	rollJitterChain = chain{{"log.roll.jitter.ms", 1}, {"log.roll.jitter.hours", msPerHour}}
	retentionChain  = chain{{"log.retention.ms", 1}, {"log.retention.minutes", msPerMinute}, {"log.retention.hours", msPerHour}}
	flushMsChain    = chain{{"log.flush.interval.ms", 1}, {"log.flush.scheduler.interval.ms", 1}}
)

// same is the chain of a topic config whose broker synonym has the same unit.
func same(key string) chain { return chain{{key, 1}} }

// brokerSynonyms returns the broker keys DescribeConfigs lists as synonyms of
// name, as Kafka does: every unit variant of roll, jitter and retention, and
// log.flush.scheduler.interval.ms behind log.flush.interval.ms (but not the
// other way round).
func brokerSynonyms(name string) []string {
	for _, c := range []chain{rollChain, rollJitterChain, retentionChain} {
		for _, l := range c {
			if l.key == name {
				return c.names()
			}
		}
	}
	if name == flushMsChain[0].key {
		return flushMsChain.names()
	}
	return []string{name}
}

// Indexes built from the tables at start-up.
var (
	brokerIndex    map[string]int // key or alias → index in brokerTable
	brokerDefaults []value        // parsed default per index (null where none)
	brokerNames    []string       // every key and alias, sorted
	defaultLayer   layer          // the non-null defaults
	envKeys        map[string]string
)

const envPrefix = "GREGOR_"

// EnvName returns the environment variable that sets key: GREGOR_ followed
// by the key upper-cased, with dots and dashes turned into underscores.
func EnvName(key string) string {
	return envPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

func init() {
	initBrokerTables()
	initTopicTables() // needs the broker indexes
}

func initBrokerTables() {
	brokerIndex = make(map[string]int, len(brokerTable)+len(brokerAliases))
	brokerDefaults = make([]value, len(brokerTable))
	for i := range brokerTable {
		k := &brokerTable[i]
		if _, dup := brokerIndex[k.name]; dup {
			panic("config: duplicate broker key " + k.name)
		}
		brokerIndex[k.name] = i
		brokerDefaults[i] = nullValue
		if k.def.set {
			v, reason := k.spec().parse(k.def.s)
			if reason != "" {
				panic(fmt.Sprintf("config: default of %s: %s", k.name, reason))
			}
			brokerDefaults[i] = v
		}
	}
	for _, a := range brokerAliases {
		i, ok := brokerIndex[a.of]
		if !ok {
			panic("config: alias of unknown key " + a.of)
		}
		brokerIndex[a.name] = i
	}
	envKeys = make(map[string]string, len(brokerIndex))
	defaultLayer = make(layer)
	for i, v := range brokerDefaults {
		if !v.null {
			defaultLayer[brokerTable[i].name] = v
		}
	}
	for name := range brokerIndex {
		brokerNames = append(brokerNames, name)
		env := EnvName(name)
		if other, dup := envKeys[env]; dup {
			panic("config: " + name + " and " + other + " share environment variable " + env)
		}
		envKeys[env] = name
	}
	sort.Strings(brokerNames)
}

// brokerDoc returns the documentation of a key or alias.
func brokerDoc(name string) string {
	for _, a := range brokerAliases {
		if a.name == name {
			return a.doc
		}
	}
	return brokerTable[brokerIndex[name]].doc
}

var metricsListenRule = custom{
	desc: "host:port, or empty for none",
	fn: func(v value) string {
		if v.s == "" {
			return ""
		}
		if _, _, err := net.SplitHostPort(v.s); err != nil {
			return "must be host:port"
		}
		return ""
	},
}
