package config

import (
	"fmt"
	"net"
	"sort"
	"strings"
)

// brokerKey defines one broker (server.properties) key.
type brokerKey struct {
	name string
	typ  Type
	def  defaultValue
	mode updateMode // whether and where Kafka lets it change at runtime
	rule rule       // nil: any value of the type
	doc  string
}

// updateMode is a key's dynamic update mode, Kafka's "Update Mode".
type updateMode int8

const (
	ro        updateMode = iota // read-only: static, needs a restart
	perBroker                   // dynamic for one broker, not as a cluster-wide default
	dyn                         // dynamic, per broker or cluster-wide
)

func (k *brokerKey) dynamic() bool { return k.mode != ro }

func (k *brokerKey) spec() spec { return spec{typ: k.typ, nullable: !k.def.set, rule: k.rule} }

// defaultValue is a key's built-in default in string form; the zero value
// means null (Kafka's "no default": the key has no value unless set).
type defaultValue struct {
	s   string
	set bool
}

func d(s string) defaultValue { return defaultValue{s: s, set: true} }

var null defaultValue

const maxLong = "9223372036854775807"

// brokerTable lists every key of Apache Kafka 4.0's broker and controller
// configuration (KafkaConfig: the documented keys and the internal ones a
// file may still set), with Kafka's name, type, default, update mode and,
// where simple, its constraint. Gregor differs on purpose in a few places:
// its own defaults for node.id, log.dirs and process.roles (a node runs
// alone out of the box), cluster.id (Kafka keeps it in meta.properties
// only), a looser log.segment.bytes minimum (14, Kafka 4.0's is 1 MiB),
// listeners and listener.security.protocol.map read-only (the node cannot
// re-bind at runtime), and log.message.downconversion.enable kept from 3.x.
// Which keys change what Gregor does is listed in implemented.go; the rest
// are accepted, validated and described, and WithoutEffect reports them.
var brokerTable = []brokerKey{
	// Node, roles and the metadata log (KRaftConfigs, ServerConfigs).
	{"node.id", TypeInt, d("1"), ro, atLeast(0), "Identifier of this node in the cluster; unique and non-negative."},
	{"process.roles", TypeList, d("broker,controller"), ro, nonEmptyList("broker", "controller"), "Roles this node plays; Gregor runs both in one process, so only broker,controller is accepted."},
	{"broker.heartbeat.interval.ms", TypeInt, d("2000"), ro, atLeast(1), "Interval between a broker's heartbeats to the controller."},
	{"broker.rack", TypeString, null, ro, nil, "Rack or zone of this broker, for rack-aware replica placement."},
	{"broker.session.timeout.ms", TypeInt, d("9000"), ro, atLeast(1), "Heartbeat silence after which the controller fences a broker."},
	{"cluster.id", TypeString, null, ro, nil, "Cluster identifier; when unset the broker generates one and persists it."},
	{"initial.broker.registration.timeout.ms", TypeInt, d("60000"), ro, nil, "How long a starting broker tries to register with the controller before giving up."},
	{"metadata.log.dir", TypeString, null, ro, nil, "Directory of the metadata log; Gregor keeps it in the data directory."},
	{"metadata.log.max.record.bytes.between.snapshots", TypeLong, d("20971520"), ro, atLeast(1), "Metadata log bytes after which a new snapshot is taken."},
	{"metadata.log.max.snapshot.interval.ms", TypeLong, d("3600000"), ro, atLeast(0), "Longest time committed metadata stays out of a snapshot; 0 disables time-based snapshots."},
	{"metadata.log.segment.bytes", TypeInt, d("1073741824"), ro, atLeast(12), "Size of one metadata log segment."},
	{"metadata.log.segment.min.bytes", TypeInt, d("8388608"), ro, atLeast(12), "Smallest metadata.log.segment.bytes accepted (internal key)."},
	{"metadata.log.segment.ms", TypeLong, d("604800000"), ro, nil, "Age at which a metadata log segment is rolled."},
	{"metadata.max.idle.interval.ms", TypeInt, d("500"), ro, atLeast(0), "How often the active controller writes a no-op record to the metadata log; 0 for never."},
	{"metadata.max.retention.bytes", TypeLong, d("104857600"), ro, nil, "Size of metadata log and snapshots beyond which old ones are deleted."},
	{"metadata.max.retention.ms", TypeLong, d("604800000"), ro, nil, "Age at which metadata log segments and snapshots are deleted."},
	{"server.max.startup.time.ms", TypeLong, d(maxLong), ro, atLeast(0), "Longest time a node may take to catch up with the metadata log at start-up (internal key)."},
	{"unstable.api.versions.enable", TypeBoolean, d("false"), ro, nil, "Offer API versions still under development (internal key)."},
	{"unstable.feature.versions.enable", TypeBoolean, d("false"), ro, nil, "Allow feature versions still under development (internal key)."},
	// The metadata quorum (QuorumConfig).
	{"controller.quorum.append.linger.ms", TypeInt, d("25"), ro, nil, "Time the quorum leader lets writes accumulate before flushing them to disk."},
	{"controller.quorum.bootstrap.servers", TypeList, d(""), ro, bootstrapServersRule, "Controller endpoints host:port to discover the metadata quorum from (KIP-853); Gregor supports only this node's own controller listener, a single-node quorum."},
	{"controller.quorum.election.backoff.max.ms", TypeInt, d("1000"), ro, nil, "Longest random backoff before a new quorum election."},
	{"controller.quorum.election.timeout.ms", TypeInt, d("1000"), ro, nil, "Time a quorum candidate waits for votes before starting a new election."},
	{"controller.quorum.fetch.timeout.ms", TypeInt, d("2000"), ro, nil, "Time without a successful fetch from the quorum leader after which a voter becomes a candidate."},
	{"controller.quorum.request.timeout.ms", TypeInt, d("2000"), ro, nil, "How long a quorum member waits for the answer to one of its requests."},
	{"controller.quorum.retry.backoff.ms", TypeInt, d("20"), ro, nil, "Initial pause before retrying a failed quorum request."},
	{"controller.quorum.voters", TypeList, d(""), ro, votersRule, "Metadata quorum voters, as id@host:port, comma separated; unset: this node alone, or controller.quorum.bootstrap.servers."},
	// Listeners and connections (SocketServerConfigs).
	{"listeners", TypeString, d("PLAINTEXT://:9092"), ro, listenersRule, "Listeners as NAME://host:port, comma separated (a bare host:port is PLAINTEXT): one client listener, and the controller (Raft) listener named by controller.listener.names."},
	{"advertised.listeners", TypeString, null, ro, advertisedListenersRule, "Addresses handed to clients and other nodes, as NAME://host:port for listeners named in listeners; port 0 means the bound port; derived from listeners when unset."},
	{"listener.security.protocol.map", TypeString, d("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"), ro, protocolMapRule, "Security protocol of each listener name, as NAME:PROTOCOL, comma separated; controller listeners default to PLAINTEXT."},
	{"controller.listener.names", TypeString, null, ro, nil, "Names of the controller (Raft) listeners among listeners, comma separated; CONTROLLER when unset."},
	{"inter.broker.listener.name", TypeString, null, ro, nil, "Listener brokers use to talk to each other; Gregor serves its clients on it too. Defaults to the one named by security.inter.broker.protocol."},
	{"security.inter.broker.protocol", TypeString, d("PLAINTEXT"), ro, in("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"), "Security protocol between brokers, naming the inter-broker listener when inter.broker.listener.name is unset; only PLAINTEXT is supported."},
	{"connection.failed.authentication.delay.ms", TypeInt, d("100"), ro, atLeast(0), "Delay before a connection that failed authentication is closed."},
	{"connections.max.idle.ms", TypeLong, d("600000"), ro, nil, "Idle time after which a client connection is closed."},
	{"connections.max.reauth.ms", TypeLong, d("0"), ro, nil, "Longest session a SASL client may keep before it must re-authenticate; 0 for no limit."},
	{"early.start.listeners", TypeString, null, ro, nil, "Listeners started before the authorizer is ready; the controller listeners by default."},
	{"max.connection.creation.rate", TypeInt, d("2147483647"), dyn, atLeast(0), "New connections per second the broker accepts."},
	{"max.connections", TypeInt, d("2147483647"), dyn, atLeast(0), "Most connections the broker accepts at once."},
	{"max.connections.per.ip", TypeInt, d("2147483647"), dyn, atLeast(0), "Most connections the broker accepts from one address."},
	{"max.connections.per.ip.overrides", TypeString, d(""), dyn, nil, "Per-host exceptions to max.connections.per.ip, as host:count, comma separated."},
	{"num.network.threads", TypeInt, d("3"), dyn, atLeast(1), "Kafka's network thread count; accepted for compatibility, Gregor serves each connection on its own goroutines."},
	{"queued.max.request.bytes", TypeLong, d("-1"), ro, nil, "Bytes the requests being received or served may hold together before connections stop being read; -1 (Kafka's default, unbounded there) means socket.request.max.bytes."},
	{"queued.max.requests", TypeInt, d("500"), ro, atLeast(1), "Requests that may wait for a handler before connections stop being read."},
	{"socket.connection.setup.timeout.max.ms", TypeLong, d("30000"), ro, nil, "Longest connection setup timeout of the broker's own connections, after backoff."},
	{"socket.connection.setup.timeout.ms", TypeLong, d("10000"), ro, nil, "First connection setup timeout of the broker's own connections."},
	{"socket.listen.backlog.size", TypeInt, d("50"), ro, atLeast(1), "Pending connections the listening socket queues."},
	{"socket.receive.buffer.bytes", TypeInt, d("102400"), ro, atLeast(-1), "Kernel receive buffer of client sockets; -1 keeps the OS default."},
	{"socket.request.max.bytes", TypeInt, d("104857600"), ro, atLeast(1), "Largest request frame read from a connection; bigger frames close it."},
	{"socket.send.buffer.bytes", TypeInt, d("102400"), ro, atLeast(-1), "Kernel send buffer of client sockets; -1 keeps the OS default."},
	// Requests and topics (ServerConfigs).
	{"alter.config.policy.class.name", TypeClass, null, ro, nil, "Class that validates AlterConfigs requests (runs on the controller)."},
	{"auto.create.topics.enable", TypeBoolean, d("true"), ro, nil, "Create a missing topic when a client asks for its metadata."},
	{"background.threads", TypeInt, d("10"), dyn, atLeast(1), "Threads for background tasks such as segment deletion."},
	{"compression.gzip.level", TypeInt, d("-1"), dyn, gzipLevels, "Level used when the broker compresses with gzip: 1 to 9, or -1 for the codec's default."},
	{"compression.lz4.level", TypeInt, d("9"), dyn, between(1, 17), "Level used when the broker compresses with lz4 (1 to 17)."},
	{"compression.type", TypeString, d("producer"), dyn, compressionTypes, "Codec of stored batches; producer keeps whatever the producer used."},
	{"compression.zstd.level", TypeInt, d("3"), dyn, between(-131072, 22), "Level used when the broker compresses with zstd (-131072 to 22)."},
	{"controlled.shutdown.enable", TypeBoolean, d("true"), ro, nil, "Move leadership away from this broker before it shuts down."},
	{"controller.socket.timeout.ms", TypeInt, d("30000"), ro, nil, "Socket timeout of controller-to-broker connections."},
	{"create.topic.policy.class.name", TypeClass, null, ro, nil, "Class that validates CreateTopics requests (runs on the controller)."},
	{"default.replication.factor", TypeInt, d("1"), ro, atLeast(1), "Replication factor of topics created without one."},
	{"delete.records.purgatory.purge.interval.requests", TypeInt, d("1"), ro, nil, "Requests between purges of the DeleteRecords purgatory."},
	{"delete.topic.enable", TypeBoolean, d("true"), ro, nil, "Let DeleteTopics requests remove topics."},
	{"fetch.max.bytes", TypeInt, d("57671680"), ro, atLeast(1024), "Most bytes one fetch response may return."},
	{"fetch.purgatory.purge.interval.requests", TypeInt, d("1000"), ro, nil, "Requests between purges of the fetch purgatory."},
	{"max.incremental.fetch.session.cache.slots", TypeInt, d("1000"), ro, atLeast(0), "Incremental fetch sessions (KIP-227) the broker keeps; 0 turns them off."},
	{"max.request.partition.size.limit", TypeInt, d("2000"), ro, atLeast(1), "Most partitions one request may name."},
	{"message.max.bytes", TypeInt, d("1048588"), dyn, atLeast(0), "Largest record batch, after compression, a topic accepts."},
	{"num.io.threads", TypeInt, d("8"), dyn, atLeast(1), "Kafka's request handler thread count; accepted for compatibility."},
	{"num.partitions", TypeInt, d("1"), ro, atLeast(1), "Partition count of topics created without one."},
	{"producer.purgatory.purge.interval.requests", TypeInt, d("1000"), ro, nil, "Requests between purges of the produce purgatory."},
	{"request.timeout.ms", TypeInt, d("30000"), ro, atLeast(0), "How long the broker waits for answers to its own requests to other nodes."},
	{"share.fetch.purgatory.purge.interval.requests", TypeInt, d("1000"), ro, nil, "Requests between purges of the share fetch purgatory."},
	{"telemetry.max.bytes", TypeInt, d("1048576"), ro, atLeast(1), "Largest client telemetry push (KIP-714) accepted."},
	// The log (ServerLogConfigs, LogConfig).
	{"log.cleanup.policy", TypeList, d("delete"), dyn, cleanupPolicies, "What to do with old segments: delete them, compact them by key, or both."},
	{"log.dir.failure.timeout.ms", TypeLong, d("30000"), ro, atLeast(1), "How long a broker keeps trying to report a failed log directory before shutting down."},
	{"log.dirs", TypeString, d("./gregor-data"), ro, logDirsRule, "Directory holding this broker's partition data; Gregor supports exactly one."},
	{"log.flush.interval.messages", TypeLong, d(maxLong), dyn, atLeast(1), "Records appended to a partition before it is forced to disk."},
	{"log.flush.interval.ms", TypeLong, null, dyn, atLeast(0), "Longest time appended data may stay unflushed; log.flush.scheduler.interval.ms applies when unset."},
	{"log.flush.offset.checkpoint.interval.ms", TypeInt, d("60000"), ro, atLeast(0), "How often each log directory's recovery-point checkpoint is written."},
	{"log.flush.scheduler.interval.ms", TypeLong, d(maxLong), ro, atLeast(0), "How often the flusher looks for logs due a flush."},
	{"log.flush.start.offset.checkpoint.interval.ms", TypeInt, d("60000"), ro, atLeast(0), "How often the log start offset checkpoint is written."},
	{"log.index.interval.bytes", TypeInt, d("4096"), dyn, atLeast(0), "Log bytes between two entries of the sparse offset index."},
	{"log.index.size.max.bytes", TypeInt, d("10485760"), dyn, atLeast(4), "Largest offset or time index file; a full index rolls the segment."},
	{"log.initial.task.delay.ms", TypeLong, d("30000"), ro, atLeast(0), "Delay before the first run of background log tasks such as retention (internal key)."},
	{"log.message.downconversion.enable", TypeBoolean, d("true"), dyn, nil, "Convert batches to older formats for fetch requests too old to read v2 (removed in Kafka 4.0; accepted for older files)."},
	{"log.message.timestamp.after.max.ms", TypeLong, d("3600000"), dyn, atLeast(0), "How far ahead of the broker clock a CreateTime timestamp may be."},
	{"log.message.timestamp.before.max.ms", TypeLong, d(maxLong), dyn, atLeast(0), "How far behind the broker clock a CreateTime timestamp may be."},
	{"log.message.timestamp.type", TypeString, d("CreateTime"), dyn, timestampTypes, "Stored timestamp: the producer's (CreateTime) or the broker's append time (LogAppendTime)."},
	{"log.preallocate", TypeBoolean, d("false"), dyn, nil, "Reserve the full segment size on disk when a segment is created."},
	{"log.retention.bytes", TypeLong, d("-1"), dyn, nil, "Size a partition may grow to before its oldest segments are deleted; negative for no limit."},
	{"log.retention.check.interval.ms", TypeLong, d("300000"), ro, atLeast(1), "How often segments are checked for deletion."},
	{"log.max.open.files", TypeInt, d("0"), ro, atLeast(0), "Gregor: cap on the segment files of all partitions kept open at once; idle ones beyond it are closed and reopened on demand (Kafka keeps every segment open and needs an open-file limit above its segment count). 0: half the process's open-file limit (RLIMIT_NOFILE)."},
	{"log.scrub.interval.ms", TypeLong, d("86400000"), dyn, atLeast(-1), "Gregor: how often a background pass starts that checks the CRC of every batch in the sealed segments of every local partition (the scrubber); 0 or -1 disables it."},
	{"log.scrub.bytes.per.second", TypeLong, d("52428800"), dyn, atLeast(1), "Gregor: cap on the scrubber's read rate, shared by all partitions."},
	{"log.retention.hours", TypeInt, d("168"), ro, atLeast(-1), "Retention in hours, used when log.retention.ms and log.retention.minutes are unset."},
	{"log.retention.minutes", TypeInt, null, ro, atLeast(-1), "Retention in minutes, used when log.retention.ms is unset."},
	{"log.retention.ms", TypeLong, null, dyn, atLeast(-1), "Age after which closed segments are deleted, -1 for never; takes precedence over minutes and hours."},
	{"log.roll.hours", TypeInt, d("168"), ro, atLeast(1), "Segment roll age in hours, used when log.roll.ms is unset."},
	{"log.roll.jitter.hours", TypeInt, d("0"), ro, atLeast(0), "Roll jitter in hours, used when log.roll.jitter.ms is unset."},
	{"log.roll.jitter.ms", TypeLong, null, dyn, atLeast(0), "Bound of a random amount taken off the roll age so partitions do not roll together; takes precedence over log.roll.jitter.hours."},
	{"log.roll.ms", TypeLong, null, dyn, atLeast(1), "Age at which the active segment is rolled even when not full; takes precedence over log.roll.hours."},
	{"log.segment.bytes", TypeInt, d("1073741824"), dyn, atLeast(14), "Size at which the active segment is closed and a new one started."},
	{"log.segment.delete.delay.ms", TypeLong, d("60000"), dyn, atLeast(0), "Wait between a segment being dropped from the log and its files being removed."},
	{"min.insync.replicas", TypeInt, d("1"), dyn, atLeast(1), "In-sync replicas needed for an acks=all write to succeed."},
	{"num.recovery.threads.per.data.dir", TypeInt, d("2"), dyn, atLeast(1), "Threads per log directory that recover logs at start-up and flush them at shutdown."},
	// Compaction (CleanerConfig).
	{"log.cleaner.backoff.ms", TypeLong, d("15000"), dyn, atLeast(0), "Sleep of a cleaner thread that found nothing to clean."},
	{"log.cleaner.dedupe.buffer.size", TypeLong, d("134217728"), dyn, nil, "Memory for the key maps of all cleaner threads together."},
	{"log.cleaner.delete.retention.ms", TypeLong, d("86400000"), dyn, atLeast(0), "How long tombstones stay in a compacted log so consumers see the delete."},
	{"log.cleaner.enable", TypeBoolean, d("true"), ro, nil, "Run the log cleaner; compacted topics such as __consumer_offsets need it."},
	{"log.cleaner.io.buffer.load.factor", TypeDouble, d("0.9"), dyn, nil, "How full the cleaner's key map may become."},
	{"log.cleaner.io.buffer.size", TypeInt, d("524288"), dyn, atLeast(0), "Memory for the cleaner's read and write buffers, over all cleaner threads."},
	{"log.cleaner.io.max.bytes.per.second", TypeDouble, d("1.7976931348623157E308"), dyn, nil, "Cap on the cleaner's combined read and write rate."},
	{"log.cleaner.max.compaction.lag.ms", TypeLong, d(maxLong), dyn, atLeast(1), "Age after which a record's log becomes due for compaction regardless of the dirty ratio."},
	{"log.cleaner.min.cleanable.ratio", TypeDouble, d("0.5"), dyn, ratio, "Share of not-yet-compacted bytes a log needs before it is compacted."},
	{"log.cleaner.min.compaction.lag.ms", TypeLong, d("0"), dyn, atLeast(0), "Age a record must reach before compaction may remove it."},
	{"log.cleaner.threads", TypeInt, d("1"), dyn, atLeast(0), "Number of compaction threads."},
	// Replication (ReplicationConfigs).
	{"auto.leader.rebalance.enable", TypeBoolean, d("true"), ro, nil, "Move leadership back to preferred replicas in the background."},
	{"leader.imbalance.check.interval.seconds", TypeLong, d("300"), ro, atLeast(1), "How often the controller moves leadership back to preferred replicas."},
	{"num.replica.alter.log.dirs.threads", TypeInt, null, ro, nil, "Threads moving replicas between log directories; the number of directories by default."},
	{"num.replica.fetchers", TypeInt, d("1"), dyn, nil, "Fetcher threads per source broker."},
	{"replica.fetch.backoff.ms", TypeInt, d("1000"), ro, atLeast(0), "Pause after a failed follower fetch."},
	{"replica.fetch.max.bytes", TypeInt, d("1048576"), ro, atLeast(0), "Bytes a follower asks for per partition in one fetch."},
	{"replica.fetch.min.bytes", TypeInt, d("1"), ro, atLeast(0), "Bytes a follower's fetch waits for at the leader."},
	{"replica.fetch.response.max.bytes", TypeInt, d("10485760"), ro, atLeast(0), "Bytes a follower asks for in one fetch, over all partitions."},
	{"replica.fetch.wait.max.ms", TypeInt, d("500"), ro, atLeast(0), "Longest time a follower's fetch waits at the leader for new data."},
	{"replica.high.watermark.checkpoint.interval.ms", TypeLong, d("5000"), ro, nil, "How often high watermarks are written to disk."},
	{"replica.lag.time.max.ms", TypeLong, d("30000"), ro, atLeast(0), "Time a follower may fall behind before it leaves the ISR."},
	{"replica.selector.class", TypeString, null, ro, nil, "Class choosing the preferred read replica of a fetching consumer (KIP-392)."},
	{"replica.socket.receive.buffer.bytes", TypeInt, d("65536"), ro, nil, "Kernel receive buffer of follower fetch connections."},
	{"replica.socket.timeout.ms", TypeInt, d("30000"), ro, nil, "Socket timeout of follower fetch connections."},
	{"unclean.leader.election.enable", TypeBoolean, d("false"), dyn, nil, "Let an out-of-sync replica become leader, at the cost of losing acknowledged data."},
	{"unclean.leader.election.interval.ms", TypeLong, d("300000"), ro, atLeast(1), "How often the controller looks for partitions needing an unclean election (internal key)."},
	// Groups and committed offsets (GroupCoordinatorConfig).
	{"group.consumer.assignors", TypeList, d("uniform,range"), ro, nil, "Server-side assignors of consumer groups (KIP-848), the first being the default."},
	{"group.consumer.heartbeat.interval.ms", TypeInt, d("5000"), ro, atLeast(1), "Heartbeat interval given to members of consumer groups (KIP-848)."},
	{"group.consumer.max.heartbeat.interval.ms", TypeInt, d("15000"), ro, atLeast(1), "Largest heartbeat interval a consumer group (KIP-848) may use."},
	{"group.consumer.max.session.timeout.ms", TypeInt, d("60000"), ro, atLeast(1), "Largest session timeout a consumer group (KIP-848) may use."},
	{"group.consumer.max.size", TypeInt, d("2147483647"), ro, atLeast(1), "Most members one consumer group (KIP-848 protocol) may have."},
	{"group.consumer.migration.policy", TypeString, d("bidirectional"), ro, inFold("DISABLED", "DOWNGRADE", "UPGRADE", "BIDIRECTIONAL"), "Which conversions between classic and consumer (KIP-848) groups are allowed."},
	{"group.consumer.min.heartbeat.interval.ms", TypeInt, d("5000"), ro, atLeast(1), "Smallest heartbeat interval a consumer group (KIP-848) may use."},
	{"group.consumer.min.session.timeout.ms", TypeInt, d("45000"), ro, atLeast(1), "Smallest session timeout a consumer group (KIP-848) may use."},
	{"group.consumer.session.timeout.ms", TypeInt, d("45000"), ro, atLeast(1), "Session timeout of consumer group members (KIP-848)."},
	{"group.coordinator.append.linger.ms", TypeInt, d("5"), ro, atLeast(0), "Time the group coordinator lets writes accumulate before appending them."},
	{"group.coordinator.rebalance.protocols", TypeList, d("classic,consumer"), ro, in("consumer", "classic"), "Group protocols the coordinator offers: classic, consumer (KIP-848)."},
	{"group.coordinator.threads", TypeInt, d("4"), ro, atLeast(1), "Threads of the group coordinator."},
	{"group.initial.rebalance.delay.ms", TypeInt, d("3000"), ro, atLeast(0), "Wait for more members before a new group's first rebalance."},
	{"group.max.session.timeout.ms", TypeInt, d("1800000"), ro, atLeast(0), "Largest session timeout a group member may ask for."},
	{"group.max.size", TypeInt, d("2147483647"), ro, atLeast(1), "Most members one consumer group may have."},
	{"group.min.session.timeout.ms", TypeInt, d("6000"), ro, atLeast(0), "Smallest session timeout a group member may ask for."},
	{"offset.metadata.max.bytes", TypeInt, d("4096"), ro, nil, "Largest metadata string an offset commit may carry."},
	{"offsets.commit.timeout.ms", TypeInt, d("5000"), ro, atLeast(1), "How long an offset commit waits for the offsets topic's replicas."},
	{"offsets.load.buffer.size", TypeInt, d("5242880"), ro, atLeast(1), "Read size when loading __consumer_offsets into the group cache."},
	{"offsets.retention.check.interval.ms", TypeLong, d("600000"), ro, atLeast(1), "How often expired offsets are looked for."},
	{"offsets.retention.minutes", TypeInt, d("10080"), ro, atLeast(1), "How long an empty group's committed offsets are kept."},
	{"offsets.topic.compression.codec", TypeInt, d("0"), ro, nil, "Codec of __consumer_offsets batches (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)."},
	{"offsets.topic.num.partitions", TypeInt, d("50"), ro, atLeast(1), "Partition count of __consumer_offsets; fixed once the topic exists."},
	{"offsets.topic.replication.factor", TypeShort, d("3"), ro, atLeast(1), "Replication factor of __consumer_offsets."},
	{"offsets.topic.segment.bytes", TypeInt, d("104857600"), ro, atLeast(1), "Segment size of __consumer_offsets."},
	// Share groups (ShareGroupConfig, ShareCoordinatorConfig).
	{"group.share.delivery.count.limit", TypeInt, d("5"), ro, between(2, 10), "Delivery attempts of a record to a share group before it is given up."},
	{"group.share.enable", TypeBoolean, d("false"), ro, nil, "Enable share groups (early access; internal key)."},
	{"group.share.heartbeat.interval.ms", TypeInt, d("5000"), ro, atLeast(1), "Heartbeat interval given to share group members."},
	{"group.share.max.groups", TypeShort, d("10"), ro, between(1, 100), "Most share groups."},
	{"group.share.max.heartbeat.interval.ms", TypeInt, d("15000"), ro, atLeast(1), "Largest heartbeat interval a share group may use."},
	{"group.share.max.record.lock.duration.ms", TypeInt, d("60000"), ro, between(30000, 3600000), "Longest acquisition lock a share group may ask for."},
	{"group.share.max.session.timeout.ms", TypeInt, d("60000"), ro, atLeast(1), "Largest session timeout a share group may use."},
	{"group.share.max.size", TypeInt, d("200"), ro, between(1, 1000), "Most members one share group may have."},
	{"group.share.min.heartbeat.interval.ms", TypeInt, d("5000"), ro, atLeast(1), "Smallest heartbeat interval a share group may use."},
	{"group.share.min.record.lock.duration.ms", TypeInt, d("15000"), ro, between(1000, 30000), "Shortest acquisition lock a share group may ask for."},
	{"group.share.min.session.timeout.ms", TypeInt, d("45000"), ro, atLeast(1), "Smallest session timeout a share group may use."},
	{"group.share.partition.max.record.locks", TypeInt, d("200"), ro, between(100, 10000), "Most records locked at once in one share partition."},
	{"group.share.record.lock.duration.ms", TypeInt, d("30000"), ro, between(1000, 3600000), "Acquisition lock duration of records delivered to share groups."},
	{"group.share.session.timeout.ms", TypeInt, d("45000"), ro, atLeast(1), "Session timeout of share group members."},
	{"share.coordinator.append.linger.ms", TypeInt, d("10"), ro, atLeast(0), "Time the share coordinator lets writes accumulate before appending them."},
	{"share.coordinator.load.buffer.size", TypeInt, d("5242880"), ro, atLeast(1), "Read size when loading the share-group state topic."},
	{"share.coordinator.snapshot.update.records.per.snapshot", TypeInt, d("500"), ro, atLeast(0), "Update records the share coordinator writes between two snapshots."},
	{"share.coordinator.state.topic.compression.codec", TypeInt, d("0"), ro, nil, "Codec of the share-group state topic's batches."},
	{"share.coordinator.state.topic.min.isr", TypeShort, d("2"), ro, atLeast(1), "min.insync.replicas of the share-group state topic."},
	{"share.coordinator.state.topic.num.partitions", TypeInt, d("50"), ro, atLeast(1), "Partition count of the share-group state topic."},
	{"share.coordinator.state.topic.replication.factor", TypeShort, d("3"), ro, atLeast(1), "Replication factor of the share-group state topic."},
	{"share.coordinator.state.topic.segment.bytes", TypeInt, d("104857600"), ro, atLeast(1), "Segment size of the share-group state topic."},
	{"share.coordinator.threads", TypeInt, d("1"), ro, atLeast(1), "Threads of the share coordinator."},
	{"share.coordinator.write.timeout.ms", TypeInt, d("5000"), ro, atLeast(1), "How long a share coordinator write waits for the state topic's replicas."},
	{"share.fetch.max.fetch.records", TypeInt, d("2147483647"), ro, nil, "Most records one share fetch returns (internal key)."},
	// Transactions and producer ids (TransactionLogConfig, TransactionStateManagerConfig).
	{"add.partitions.to.txn.retry.backoff.max.ms", TypeInt, d("100"), ro, atLeast(0), "Longest time the broker retries adding partitions to a transaction on the producer's behalf."},
	{"add.partitions.to.txn.retry.backoff.ms", TypeInt, d("20"), ro, atLeast(1), "Pause between the broker's retries of adding partitions to a transaction."},
	{"producer.id.expiration.check.interval.ms", TypeInt, d("600000"), ro, atLeast(1), "How often partitions drop the state of expired producer ids."},
	{"producer.id.expiration.ms", TypeInt, d("86400000"), dyn, atLeast(1), "Idle time after which a partition forgets a producer id's sequence state."},
	{"transaction.abort.timed.out.transaction.cleanup.interval.ms", TypeInt, d("10000"), ro, atLeast(1), "How often timed-out transactions are aborted."},
	{"transaction.max.timeout.ms", TypeInt, d("900000"), ro, atLeast(1), "Largest transaction timeout a producer may ask for."},
	{"transaction.partition.verification.enable", TypeBoolean, d("true"), dyn, nil, "Check that a partition was added to a transaction before accepting its transactional writes."},
	{"transaction.remove.expired.transaction.cleanup.interval.ms", TypeInt, d("3600000"), ro, atLeast(1), "How often expired transactional ids are removed."},
	{"transaction.state.log.load.buffer.size", TypeInt, d("5242880"), ro, atLeast(1), "Read size when loading __transaction_state."},
	{"transaction.state.log.min.isr", TypeInt, d("2"), ro, atLeast(1), "min.insync.replicas of __transaction_state."},
	{"transaction.state.log.num.partitions", TypeInt, d("50"), ro, atLeast(1), "Partition count of __transaction_state."},
	{"transaction.state.log.replication.factor", TypeShort, d("3"), ro, atLeast(1), "Replication factor of __transaction_state."},
	{"transaction.state.log.segment.bytes", TypeInt, d("104857600"), ro, atLeast(1), "Segment size of __transaction_state."},
	{"transactional.id.expiration.ms", TypeInt, d("604800000"), ro, atLeast(1), "Idle time after which a transactional id's state is dropped."},
	// Quotas (QuotaConfig).
	{"alter.log.dirs.replication.quota.window.num", TypeInt, d("11"), ro, atLeast(1), "Samples kept for the quota on moving replicas between log directories."},
	{"alter.log.dirs.replication.quota.window.size.seconds", TypeInt, d("1"), ro, atLeast(1), "Length of one sample of the quota on moving replicas between log directories."},
	{"client.quota.callback.class", TypeClass, null, ro, nil, "Class that decides the quota limits of client requests."},
	{"controller.quota.window.num", TypeInt, d("11"), ro, atLeast(1), "Samples kept for the controller mutation quota."},
	{"controller.quota.window.size.seconds", TypeInt, d("1"), ro, atLeast(1), "Length of one sample of the controller mutation quota."},
	{"quota.window.num", TypeInt, d("11"), ro, atLeast(1), "Samples kept for client quotas."},
	{"quota.window.size.seconds", TypeInt, d("1"), ro, atLeast(1), "Length of one sample of client quotas."},
	{"replication.quota.window.num", TypeInt, d("11"), ro, atLeast(1), "Samples kept for replication quotas."},
	{"replication.quota.window.size.seconds", TypeInt, d("1"), ro, atLeast(1), "Length of one sample of replication quotas."},
	// Security: authorization, SSL, SASL, delegation tokens (BrokerSecurityConfigs, SslConfigs, SaslConfigs).
	{"authorizer.class.name", TypeString, d(""), ro, nil, "Class that authorizes requests against ACLs; empty allows everything."},
	{"delegation.token.expiry.check.interval.ms", TypeLong, d("3600000"), ro, atLeast(1), "How often expired delegation tokens are removed."},
	{"delegation.token.expiry.time.ms", TypeLong, d("86400000"), ro, atLeast(1), "Validity of a delegation token before it must be renewed."},
	{"delegation.token.max.lifetime.ms", TypeLong, d("604800000"), ro, atLeast(1), "Age beyond which a delegation token can no longer be renewed."},
	{"delegation.token.secret.key", TypePassword, null, ro, nil, "Secret that signs delegation tokens; unset disables them."},
	{"principal.builder.class", TypeClass, d("org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"), perBroker, nil, "Class that builds the principal of an authenticated connection."},
	{"sasl.client.callback.handler.class", TypeClass, null, ro, nil, "SASL client callback handler class."},
	{"sasl.enabled.mechanisms", TypeList, d("GSSAPI"), perBroker, nil, "SASL mechanisms the broker accepts."},
	{"sasl.jaas.config", TypePassword, null, perBroker, nil, "JAAS login configuration of SASL connections."},
	{"sasl.kerberos.kinit.cmd", TypeString, d("/usr/bin/kinit"), perBroker, nil, "Path of the Kerberos kinit command."},
	{"sasl.kerberos.min.time.before.relogin", TypeLong, d("60000"), perBroker, nil, "Pause of the Kerberos login thread between refreshes."},
	{"sasl.kerberos.principal.to.local.rules", TypeList, d("DEFAULT"), perBroker, nil, "Rules mapping Kerberos principals to short names."},
	{"sasl.kerberos.service.name", TypeString, null, perBroker, nil, "Kerberos principal name the broker runs as."},
	{"sasl.kerberos.ticket.renew.jitter", TypeDouble, d("0.05"), perBroker, nil, "Random jitter added to the Kerberos ticket renewal time."},
	{"sasl.kerberos.ticket.renew.window.factor", TypeDouble, d("0.8"), perBroker, nil, "Share of a Kerberos ticket's lifetime after which it is renewed."},
	{"sasl.login.callback.handler.class", TypeClass, null, ro, nil, "SASL login callback handler class."},
	{"sasl.login.class", TypeClass, null, ro, nil, "SASL login class."},
	{"sasl.login.connect.timeout.ms", TypeInt, null, ro, nil, "Connect timeout to the external authentication provider (OAUTHBEARER)."},
	{"sasl.login.read.timeout.ms", TypeInt, null, ro, nil, "Read timeout from the external authentication provider (OAUTHBEARER)."},
	{"sasl.login.refresh.buffer.seconds", TypeShort, d("300"), perBroker, nil, "Time before a credential expires by which it is refreshed (OAUTHBEARER)."},
	{"sasl.login.refresh.min.period.seconds", TypeShort, d("60"), perBroker, nil, "Shortest wait between credential refreshes (OAUTHBEARER)."},
	{"sasl.login.refresh.window.factor", TypeDouble, d("0.8"), perBroker, nil, "Share of a credential's lifetime after which it is refreshed (OAUTHBEARER)."},
	{"sasl.login.refresh.window.jitter", TypeDouble, d("0.05"), perBroker, nil, "Random jitter added to the credential refresh time (OAUTHBEARER)."},
	{"sasl.login.retry.backoff.max.ms", TypeLong, d("10000"), ro, nil, "Longest pause between login attempts to the authentication provider (OAUTHBEARER)."},
	{"sasl.login.retry.backoff.ms", TypeLong, d("100"), ro, nil, "First pause between login attempts to the authentication provider (OAUTHBEARER)."},
	{"sasl.mechanism.controller.protocol", TypeString, d("GSSAPI"), ro, nil, "SASL mechanism used to talk to the controllers."},
	{"sasl.mechanism.inter.broker.protocol", TypeString, d("GSSAPI"), perBroker, nil, "SASL mechanism brokers use between themselves."},
	{"sasl.oauthbearer.clock.skew.seconds", TypeInt, d("30"), ro, nil, "Clock difference allowed with the OAuth provider."},
	{"sasl.oauthbearer.expected.audience", TypeList, null, ro, nil, "Audiences a JWT must be issued for."},
	{"sasl.oauthbearer.expected.issuer", TypeString, null, ro, nil, "Issuer a JWT must come from."},
	{"sasl.oauthbearer.jwks.endpoint.refresh.ms", TypeLong, d("3600000"), ro, nil, "How often the JWKS cache is refreshed."},
	{"sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", TypeLong, d("10000"), ro, nil, "Longest pause between JWKS retrieval attempts."},
	{"sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", TypeLong, d("100"), ro, nil, "First pause between JWKS retrieval attempts."},
	{"sasl.oauthbearer.jwks.endpoint.url", TypeString, null, ro, nil, "URL (or file) of the OAuth provider's JSON Web Key Set."},
	{"sasl.oauthbearer.scope.claim.name", TypeString, d("scope"), ro, nil, "Name of the JWT scope claim."},
	{"sasl.oauthbearer.sub.claim.name", TypeString, d("sub"), ro, nil, "Name of the JWT subject claim."},
	{"sasl.oauthbearer.token.endpoint.url", TypeString, null, ro, nil, "URL (or file) of the OAuth provider's token endpoint."},
	{"sasl.server.callback.handler.class", TypeClass, null, ro, nil, "SASL server callback handler class."},
	{"sasl.server.max.receive.size", TypeInt, d("524288"), ro, nil, "Largest frame accepted before and during SASL authentication."},
	{"security.providers", TypeString, null, ro, nil, "Creator classes of security providers."},
	{"ssl.allow.dn.changes", TypeBoolean, d("false"), ro, nil, "Allow a new certificate with a different distinguished name on dynamic update."},
	{"ssl.allow.san.changes", TypeBoolean, d("false"), ro, nil, "Allow a new certificate with different subject alternative names on dynamic update."},
	{"ssl.cipher.suites", TypeList, d(""), perBroker, nil, "Cipher suites allowed; empty allows all."},
	{"ssl.client.auth", TypeString, d("none"), perBroker, in("required", "requested", "none"), "Client certificates: required, requested or none."},
	{"ssl.enabled.protocols", TypeList, d("TLSv1.2,TLSv1.3"), perBroker, nil, "TLS versions accepted."},
	{"ssl.endpoint.identification.algorithm", TypeString, d("https"), perBroker, nil, "Host name verification of server certificates; empty disables it."},
	{"ssl.engine.factory.class", TypeClass, null, perBroker, nil, "Class providing SSL engines."},
	{"ssl.key.password", TypePassword, null, perBroker, nil, "Password of the private key."},
	{"ssl.keymanager.algorithm", TypeString, d("SunX509"), perBroker, nil, "Key manager factory algorithm."},
	{"ssl.keystore.certificate.chain", TypePassword, null, perBroker, nil, "Certificate chain in PEM, instead of a key store file."},
	{"ssl.keystore.key", TypePassword, null, perBroker, nil, "Private key in PEM, instead of a key store file."},
	{"ssl.keystore.location", TypeString, null, perBroker, nil, "Path of the key store."},
	{"ssl.keystore.password", TypePassword, null, perBroker, nil, "Password of the key store."},
	{"ssl.keystore.type", TypeString, d("JKS"), perBroker, nil, "Format of the key store: JKS, PKCS12 or PEM."},
	{"ssl.principal.mapping.rules", TypeString, d("DEFAULT"), ro, nil, "Rules mapping certificate distinguished names to principal names."},
	{"ssl.protocol", TypeString, d("TLSv1.3"), perBroker, nil, "TLS protocol of the SSL context."},
	{"ssl.provider", TypeString, null, perBroker, nil, "Security provider of SSL connections."},
	{"ssl.secure.random.implementation", TypeString, null, perBroker, nil, "Secure random implementation for SSL."},
	{"ssl.trustmanager.algorithm", TypeString, d("PKIX"), perBroker, nil, "Trust manager factory algorithm."},
	{"ssl.truststore.certificates", TypePassword, null, perBroker, nil, "Trusted certificates in PEM, instead of a trust store file."},
	{"ssl.truststore.location", TypeString, null, perBroker, nil, "Path of the trust store."},
	{"ssl.truststore.password", TypePassword, null, perBroker, nil, "Password of the trust store."},
	{"ssl.truststore.type", TypeString, d("JKS"), perBroker, nil, "Format of the trust store: JKS, PKCS12 or PEM."},
	// Metrics (MetricConfigs).
	{"kafka.metrics.polling.interval.secs", TypeInt, d("10"), ro, atLeast(1), "Polling interval offered to kafka.metrics.reporters."},
	{"kafka.metrics.reporters", TypeList, d(""), ro, nil, "Yammer metrics reporter classes."},
	{"metric.reporters", TypeList, d("org.apache.kafka.common.metrics.JmxReporter"), dyn, nil, "Metrics reporter classes."},
	{"metrics.num.samples", TypeInt, d("2"), ro, atLeast(1), "Samples kept to compute a metric."},
	{"metrics.recording.level", TypeString, d("INFO"), ro, nil, "Highest level of metrics recorded: INFO, DEBUG or TRACE."},
	{"metrics.sample.window.ms", TypeLong, d("30000"), ro, atLeast(1), "Time span of one metrics sample."},
	// Tiered storage (RemoteLogManagerConfig).
	{"log.local.retention.bytes", TypeLong, d("-2"), dyn, atLeast(-2), "Local size a partition keeps when tiered storage holds the rest; -2 means log.retention.bytes."},
	{"log.local.retention.ms", TypeLong, d("-2"), dyn, atLeast(-2), "Local age a partition keeps when tiered storage holds the rest; -2 means log.retention.ms."},
	{"remote.fetch.max.wait.ms", TypeInt, d("500"), dyn, atLeast(1), "Longest wait of a fetch served from remote storage."},
	{"remote.list.offsets.request.timeout.ms", TypeLong, d("30000"), dyn, atLeast(1), "Longest wait of a ListOffsets answered from remote storage."},
	{"remote.log.index.file.cache.total.size.bytes", TypeLong, d("1073741824"), dyn, atLeast(1), "Local space for index files fetched from remote storage."},
	{"remote.log.manager.copier.thread.pool.size", TypeInt, d("10"), dyn, atLeast(1), "Threads copying segments to remote storage."},
	{"remote.log.manager.copy.max.bytes.per.second", TypeLong, d(maxLong), dyn, atLeast(1), "Cap on bytes copied to remote storage per second."},
	{"remote.log.manager.copy.quota.window.num", TypeInt, d("11"), ro, atLeast(1), "Samples kept for the remote copy quota."},
	{"remote.log.manager.copy.quota.window.size.seconds", TypeInt, d("1"), ro, atLeast(1), "Length of one sample of the remote copy quota."},
	{"remote.log.manager.expiration.thread.pool.size", TypeInt, d("10"), dyn, atLeast(1), "Threads deleting expired remote segments."},
	{"remote.log.manager.fetch.max.bytes.per.second", TypeLong, d(maxLong), dyn, atLeast(1), "Cap on bytes fetched from remote storage per second."},
	{"remote.log.manager.fetch.quota.window.num", TypeInt, d("11"), ro, atLeast(1), "Samples kept for the remote fetch quota."},
	{"remote.log.manager.fetch.quota.window.size.seconds", TypeInt, d("1"), ro, atLeast(1), "Length of one sample of the remote fetch quota."},
	{"remote.log.manager.task.interval.ms", TypeLong, d("30000"), ro, atLeast(1), "How often the remote log manager copies and cleans segments."},
	{"remote.log.manager.task.retry.backoff.max.ms", TypeLong, d("30000"), ro, atLeast(1), "Longest pause before retrying a failed remote log task (internal key)."},
	{"remote.log.manager.task.retry.backoff.ms", TypeLong, d("500"), ro, atLeast(1), "First pause before retrying a failed remote log task (internal key)."},
	{"remote.log.manager.task.retry.jitter", TypeDouble, d("0.2"), ro, floatRange{0.0, 0.5}, "Random jitter of remote log task retries (internal key)."},
	{"remote.log.manager.thread.pool.size", TypeInt, d("2"), ro, atLeast(1), "Threads that follow the remote offsets of follower partitions."},
	{"remote.log.metadata.custom.metadata.max.bytes", TypeInt, d("128"), ro, atLeast(0), "Largest custom metadata a remote storage plugin may attach to a segment."},
	{"remote.log.metadata.manager.class.name", TypeString, d("org.apache.kafka.server.log.remote.metadata.storage.TopicBasedRemoteLogMetadataManager"), ro, nonEmpty, "Class of the remote log metadata manager."},
	{"remote.log.metadata.manager.class.path", TypeString, null, ro, nil, "Class path of the remote log metadata manager."},
	{"remote.log.metadata.manager.impl.prefix", TypeString, d("rlmm.config."), ro, nonEmpty, "Prefix of the keys passed to the remote log metadata manager."},
	{"remote.log.metadata.manager.listener.name", TypeString, null, ro, nil, "Local listener the remote log metadata manager connects to."},
	{"remote.log.reader.max.pending.tasks", TypeInt, d("100"), ro, atLeast(1), "Queue length of the remote log reader pool."},
	{"remote.log.reader.threads", TypeInt, d("10"), dyn, atLeast(1), "Threads reading from remote storage."},
	{"remote.log.storage.manager.class.name", TypeString, null, ro, nil, "Class of the remote storage manager."},
	{"remote.log.storage.manager.class.path", TypeString, null, ro, nil, "Class path of the remote storage manager."},
	{"remote.log.storage.manager.impl.prefix", TypeString, d("rsm.config."), ro, nonEmpty, "Prefix of the keys passed to the remote storage manager."},
	{"remote.log.storage.system.enable", TypeBoolean, d("false"), ro, nil, "Enable tiered storage on this broker."},
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

// EnvName returns the environment variable that sets key, spelt as the
// apache/kafka container image spells its KAFKA_* variables: GREGOR_
// followed by the key upper-cased, with '.' written '_', '_' written '__'
// and '-' written '___' (log.dirs is GREGOR_LOG_DIRS, a key a_b.c-d would
// be GREGOR_A__B_C___D).
func EnvName(key string) string {
	var sb strings.Builder
	sb.WriteString(envPrefix)
	for _, r := range strings.ToUpper(key) {
		switch r {
		case '.':
			sb.WriteByte('_')
		case '_':
			sb.WriteString("__")
		case '-':
			sb.WriteString("___")
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// envKeyName is the inverse of EnvName: the key a GREGOR_* variable spells,
// lower-cased, whether or not it is known.
func envKeyName(name string) string {
	s := strings.ToLower(strings.TrimPrefix(strings.ToUpper(name), envPrefix))
	var sb strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '_' {
			sb.WriteByte(s[i])
			i++
			continue
		}
		n := 0
		for i < len(s) && s[i] == '_' && n < 3 {
			n++
			i++
		}
		sb.WriteByte(".._-"[n])
	}
	return sb.String()
}

func init() {
	initBrokerTables()
	initTopicTables() // needs the broker indexes
	initImplemented()
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
