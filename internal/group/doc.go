// Package group is the group coordinator of the classic consumer group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and the store of
// committed offsets (OffsetCommit, OffsetFetch, OffsetDelete), with Kafka's
// semantics and error codes.
//
// # Shards
//
// Groups live in the internal compacted topic __consumer_offsets: group g
// belongs to partition abs(javaHashCode(g)) mod N, exactly as Kafka computes
// it, and the coordinator of g is the leader of that partition. The
// Coordinator keeps one shard per partition it leads: Elect loads a shard by
// replaying its partition from the start, Resign unloads it. A single broker
// leads every partition, so Load elects them all; once replication exists,
// leadership changes call Elect and Resign.
//
// # Durability
//
// Every change that must survive a restart is a record appended to the
// shard's partition before it is acknowledged: committed offsets
// (OffsetCommitKey/Value), the group's generation, leader, members and
// assignment after each rebalance (GroupMetadataKey/Value), and tombstones
// (a null value) when offsets expire or are deleted and when a group is
// deleted. The records use Kafka's exact formats (kmsg's OffsetCommitKey,
// OffsetCommitValue v3 — v1 when an explicit retention gives an expire
// timestamp —, GroupMetadataKey and GroupMetadataValue v3), in RecordBatch v2
// batches with CreateTime timestamps, so Kafka tools can read the topic.
// Replaying a partition applies its records in order; the last record for a
// key wins and a tombstone deletes.
//
// A write is appended with the shard's lock held, so that the log has a
// shard's records in the order its state changes were decided, and its
// acknowledgement (the ISR has it, within offsets.commit.timeout.ms) is
// awaited with no lock held, as Kafka's GroupMetadataManager does. Until
// then committed offsets are pending: OffsetFetch does not return them; the
// commit is answered, and its offsets installed, when the write completes,
// unless a later commit or a tombstone of the same partition was appended
// after it (the log offset of each record orders them, as a replay would).
// A leader's assignment (SyncGroup) and a static member's new id are applied
// and answered when their write completes, provided the group is still in
// the state and generation written; a failure is handled then as an append
// failure is. Tombstones, and a group becoming Empty, take effect in memory
// once appended, as in Kafka (the cache follows the leader's log);
// DeleteGroups and OffsetDelete answer once the tombstones are
// acknowledged.
//
// # Time
//
// Nothing here sleeps or starts timers per operation. Members, pending
// members and groups carry deadlines (session timeout, rebalance timeout,
// the initial rebalance delay, the sync timeout); Tick checks them against
// the injected Clock. Start runs Tick on a ticker, and the offset
// retention check every offsets.retention.check.interval.ms; tests drive a
// manual clock and call Tick themselves, so every state machine test is
// deterministic.
//
// # Locking
//
// Lock order (a lock may be taken while holding those above it only):
//
//	Coordinator.createMu (creating the offsets topic, electing its shards)
//	or Coordinator.tickMu (one Tick at a time)
//	  Coordinator.mu (finding a shard; held for nothing else)
//	    shard.mu (a shard's groups; Log.Append is called under it)
//	      the partition's own locks (taken inside Log.Append)
//
// Nothing waits for a write's acknowledgement (Ack.Wait) with any of these
// held: a request waits in its own goroutine after releasing shard.mu and
// takes it again to complete; writes nobody waits for (from Tick,
// LeaveGroup, topic deletion) are watched by a goroutine of the shard that
// takes no lock. Every wait uses a context that the shard's unload cancels;
// unload (and so Resign, Close) returns once the shard's watching
// goroutines have ended, so it must not be called with shard.mu held.
// JoinGroup and SyncGroup answer through Futures completed under shard.mu;
// the caller waits with no lock held.
package group
