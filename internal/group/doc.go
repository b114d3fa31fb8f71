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
// Lock order: Coordinator.createMu, then Coordinator.mu, then shard.mu, then
// the partition's own locks (appends happen with shard.mu held, so a shard's
// log order is the order of its in-memory changes). Coordinator.mu is held
// only to find a shard. JoinGroup and SyncGroup answer through Futures
// completed under shard.mu; the caller waits with no lock held.
package group
