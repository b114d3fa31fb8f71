// Package config holds Gregor's broker and topic configuration, using Apache
// Kafka's key names, types, defaults and resolution rules, so that a Kafka
// server.properties file and Kafka admin tools work unchanged.
//
// A broker value comes from one of four layers, highest precedence first:
// a dynamic per-broker value, a dynamic cluster-wide default, a static value
// (the --config file, GREGOR_* environment variables and --set flags, applied
// in that order), and the built-in default. A topic stores only its overrides
// and resolves every other key through the broker, following Kafka's topic to
// broker synonym table (retention.ms ← log.retention.ms, .minutes, .hours …).
//
// The broker table holds every key of Kafka 4.0's broker and controller
// configuration, so that Kafka's own server.properties loads. Keys whose
// feature Gregor lacks (SSL and SASL, quotas, tiered storage, share groups
// …) are accepted, validated and described like the others;
// implemented.go lists the keys that have an effect, and WithoutEffect
// names the set keys that have none, for a warning at start. A key Kafka
// does not know either is an error, reported with the known key it is
// probably a misspelling of; Load reports every rejected setting of every
// source at once, each with where it was set. listeners.go resolves the
// listener and quorum keys (Listeners, ClientListener, QuorumVoters …).
//
// Invariants:
//   - Every key is defined once, in a table (defs_broker.go, defs_topic.go);
//     parsing, validation, documentation and DescribeConfigs output all come
//     from that table.
//   - A *Broker holds an immutable snapshot behind an atomic pointer: readers
//     never lock, writers serialise on a mutex, build a new snapshot, validate
//     it as a whole and only then publish it, so a rejected change leaves no
//     trace.
//   - Errors name the offending key and unwrap to ErrUnknownKey,
//     ErrInvalidValue or ErrReadOnly, so handlers can map them to Kafka error
//     codes.
package config
