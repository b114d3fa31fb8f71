"""Round trip through librdkafka's Python binding (confluent-kafka).

For each codec: create a topic with AdminClient, produce keyed records with
an idempotent producer and the Java-compatible murmur2 partitioner, then read
every partition back with an assigned (not subscribed) consumer. Exits
non-zero on any mismatch. Run by TestE2EPythonConfluent.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e_common as common  # noqa: E402
from confluent_kafka import (  # noqa: E402
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
    libversion,
    version,
)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402


def log_error(who):
    def cb(err):
        print("%s error_cb: %s" % (who, err), file=sys.stderr)
    return cb


def create_topic(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap, "error_cb": log_error("admin")})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
        operation_timeout=10, request_timeout=30)
    futures[topic].result(timeout=30)


def produce(bootstrap, topic, codec, sent):
    delivered = {}
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append("delivery of %r failed: %s" % (msg.value(), err))
        else:
            delivered[msg.value()] = (msg.partition(), msg.offset())

    p = Producer({
        "bootstrap.servers": bootstrap,
        "compression.type": codec,
        "enable.idempotence": True,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "message.timeout.ms": 60000,
        "error_cb": log_error("producer"),
    })
    for k, v in sent:
        p.produce(topic, key=k, value=v, on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(60)
    if left:
        errors.append("%d records still queued after flush" % left)
    return delivered, errors


def consume(bootstrap, topic, prefix):
    # A group.id is required by the binding, but with assign() and no
    # commits the consumer should never need the group coordinator.
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": prefix + "-unused-group",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "error_cb": log_error("consumer"),
    })
    try:
        md = c.list_topics(topic, timeout=10)
        tmd = md.topics[topic]
        if tmd.error is not None:
            raise RuntimeError("metadata for %s: %s" % (topic, tmd.error))
        parts = sorted(tmd.partitions)
        ends = {}
        for p in parts:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        nxt = {p: 0 for p in ends}
        got = []
        deadline = time.time() + 60
        while any(nxt[p] < ends[p] for p in ends):
            if time.time() > deadline:
                raise RuntimeError("timed out consuming: read up to %r, want %r" % (nxt, ends))
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError("consume error: %s" % msg.error())
            got.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
            if msg.partition() in nxt:
                nxt[msg.partition()] = max(nxt[msg.partition()], msg.offset() + 1)
        return got, len(parts)
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic-prefix", required=True)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--count", type=int, default=500)
    args = ap.parse_args()
    print("confluent-kafka %s, librdkafka %s" % (version()[0], libversion()[0]))

    ok = True
    for codec in common.CODECS:
        topic = "%s-%s" % (args.topic_prefix, codec)
        try:
            create_topic(args.bootstrap, topic, args.partitions)
            sent = common.workload(codec, args.count)
            delivered, errs = produce(args.bootstrap, topic, codec, sent)
            errs += common.check_producer_keys(sent, delivered)
            got, nparts = consume(args.bootstrap, topic, args.topic_prefix)
            if nparts != args.partitions:
                errs.append("topic has %d partitions, want %d" % (nparts, args.partitions))
            errs += common.verify(sent, delivered, got)
        except Exception as e:  # report and go on with the next codec
            errs, got, nparts = ["%s: %s" % (type(e).__name__, e)], [], 0
        ok = common.report(codec, errs, len(got), nparts) and ok
    common.finish(ok)


if __name__ == "__main__":
    main()
