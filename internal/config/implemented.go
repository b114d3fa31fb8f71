package config

import (
	"maps"
	"slices"
)

// implementedKeys are the broker keys that change what Gregor does: read by
// the node, the broker, its partitions, the cleaner, the group coordinator,
// replication or the servers, directly or through the topic configs they
// are synonyms of. Every other key of the table is accepted, validated and
// described, but has no effect yet; WithoutEffect names those that are set.
// When a feature lands, its keys move here.
var implementedKeys = []string{
	// Gregor's own.
	"metrics.listen",
	// Node, roles, quorum and listeners.
	"node.id", "process.roles", "cluster.id", "broker.rack", "log.dirs",
	"controller.quorum.voters", "controller.quorum.bootstrap.servers",
	"listeners", "advertised.listeners", "listener.security.protocol.map",
	"controller.listener.names", "inter.broker.listener.name", "security.inter.broker.protocol",
	"broker.heartbeat.interval.ms", "broker.session.timeout.ms",
	// Requests and connections.
	"socket.request.max.bytes", "queued.max.request.bytes", "connections.max.idle.ms",
	"auto.create.topics.enable", "delete.topic.enable", "num.partitions", "default.replication.factor",
	"message.max.bytes", "compression.type", "max.incremental.fetch.session.cache.slots",
	// The log and its retention (log.roll.*, log.retention.* and
	// log.flush.* through the topic configs segment.ms, retention.ms …).
	"log.segment.bytes", "log.roll.ms", "log.roll.hours",
	"log.index.interval.bytes", "log.index.size.max.bytes",
	"log.flush.interval.messages", "log.flush.interval.ms", "log.flush.scheduler.interval.ms",
	"log.flush.offset.checkpoint.interval.ms",
	"log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.retention.bytes",
	"log.retention.check.interval.ms", "log.segment.delete.delay.ms", "log.cleanup.policy",
	"log.scrub.interval.ms", "log.scrub.bytes.per.second", "log.max.open.files",
	"log.message.timestamp.type", "log.message.timestamp.before.max.ms", "log.message.timestamp.after.max.ms",
	"min.insync.replicas",
	// Compaction.
	"log.cleaner.enable", "log.cleaner.threads", "log.cleaner.backoff.ms", "log.cleaner.dedupe.buffer.size",
	"log.cleaner.io.max.bytes.per.second", "log.cleaner.delete.retention.ms", "log.cleaner.min.cleanable.ratio",
	"log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms",
	// Replication and leadership.
	"replica.lag.time.max.ms", "replica.fetch.max.bytes", "replica.fetch.response.max.bytes",
	"replica.fetch.wait.max.ms", "replica.fetch.min.bytes", "replica.fetch.backoff.ms",
	"unclean.leader.election.enable", "auto.leader.rebalance.enable", "leader.imbalance.check.interval.seconds",
	// Groups and offsets.
	"offsets.topic.num.partitions", "offsets.topic.replication.factor",
	"offsets.retention.minutes", "offsets.retention.check.interval.ms",
	"group.initial.rebalance.delay.ms", "group.min.session.timeout.ms", "group.max.session.timeout.ms", "group.max.size",
	// Idempotent producers.
	"producer.id.expiration.ms", "producer.id.expiration.check.interval.ms",
}

var implemented map[int]bool // brokerTable index → in implementedKeys

func initImplemented() {
	implemented = make(map[int]bool, len(implementedKeys))
	for _, k := range implementedKeys {
		i, ok := brokerIndex[k]
		if !ok || brokerTable[i].name != k {
			panic("config: implemented key " + k + " is not a key of the table")
		}
		if implemented[i] {
			panic("config: implemented key " + k + " listed twice")
		}
		implemented[i] = true
	}
}

// Implemented reports whether key (or the key an alias stands for) changes
// what Gregor does; false for unknown keys.
func Implemented(key string) bool {
	i, ok := brokerIndex[key]
	return ok && implemented[i]
}

// WithoutEffect returns the keys set by any source (file, environment,
// --set, flags, or dynamically) that Gregor accepts but whose feature it
// does not implement yet (SSL and SASL, quotas, tiered storage, share
// groups, metrics reporters, transactions …), sorted, by canonical name.
func (b *Broker) WithoutEffect() []string {
	st := b.cur.Load()
	set := map[string]bool{}
	for _, l := range []layer{st.static, st.dynDefault, st.dynBroker} {
		for k := range l {
			if !implemented[brokerIndex[k]] {
				set[k] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}
