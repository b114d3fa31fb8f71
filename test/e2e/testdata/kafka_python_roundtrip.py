"""Round trip through kafka-python.

For each codec the installed kafka-python can use: create a topic with
KafkaAdminClient, produce keyed records (default murmur2 partitioner,
acks=all), then read every partition back with a group-less consumer and
assign(). Codecs whose compression module is missing are reported as SKIP, or
fail the run under --require-all-codecs. Exits non-zero on any mismatch.
Run by TestE2EPythonKafkaPython.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e_common as common  # noqa: E402
import kafka  # noqa: E402
import kafka.codec as codecs  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

AVAILABLE = {
    "none": lambda: True,
    "gzip": codecs.has_gzip,
    "snappy": codecs.has_snappy,
    "lz4": codecs.has_lz4,
    "zstd": codecs.has_zstd,
}


def create_topic(bootstrap, topic, partitions):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="gregor-e2e-admin")
    try:
        resp = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        for t, code, *rest in resp.topic_errors:
            if code != 0:
                raise RuntimeError("CreateTopics %s: error code %d %r" % (t, code, rest))
    finally:
        admin.close()


def produce(bootstrap, topic, codec, sent):
    p = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        compression_type=None if codec == "none" else codec,
        linger_ms=5,
        retries=5,
        max_in_flight_requests_per_connection=1,
    )
    errors = []
    delivered = {}
    try:
        futures = [(v, p.send(topic, key=k, value=v)) for k, v in sent]
        p.flush(timeout=60)
        for v, f in futures:
            try:
                md = f.get(timeout=30)
                delivered[v] = (md.partition, md.offset)
            except Exception as e:
                errors.append("send of %r failed: %s" % (v, e))
    finally:
        p.close(timeout=10)
    return delivered, errors


def consume(bootstrap, topic):
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        parts = sorted(c.partitions_for_topic(topic) or [])
        tps = [TopicPartition(topic, p) for p in parts]
        c.assign(tps)
        begins = c.beginning_offsets(tps)
        ends = {tp: o for tp, o in c.end_offsets(tps).items() if o > begins[tp]}
        c.seek_to_beginning(*tps)
        nxt = {tp: begins[tp] for tp in ends}
        got = []
        deadline = time.time() + 60
        while any(nxt[tp] < ends[tp] for tp in ends):
            if time.time() > deadline:
                raise RuntimeError("timed out consuming: read up to %r, want %r" % (nxt, ends))
            for tp, recs in c.poll(timeout_ms=500).items():
                for r in recs:
                    got.append((r.partition, r.offset, r.key, r.value))
                    if tp in nxt:
                        nxt[tp] = max(nxt[tp], r.offset + 1)
        return got, len(parts)
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic-prefix", required=True)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--require-all-codecs", action="store_true")
    args = ap.parse_args()
    print("kafka-python %s" % kafka.__version__)

    ok = True
    for codec in common.CODECS:
        if not AVAILABLE[codec]():
            if args.require_all_codecs:
                print("FAIL codec=%s: kafka-python has no %s module" % (codec, codec))
                ok = False
            else:
                print("SKIP codec=%s: kafka-python has no %s module" % (codec, codec))
            continue
        topic = "%s-%s" % (args.topic_prefix, codec)
        try:
            create_topic(args.bootstrap, topic, args.partitions)
            sent = common.workload(codec, args.count)
            delivered, errs = produce(args.bootstrap, topic, codec, sent)
            errs += common.check_producer_keys(sent, delivered)
            got, nparts = consume(args.bootstrap, topic)
            if nparts != args.partitions:
                errs.append("topic has %d partitions, want %d" % (nparts, args.partitions))
            errs += common.verify(sent, delivered, got)
        except Exception as e:  # report and go on with the next codec
            errs, got, nparts = ["%s: %s" % (type(e).__name__, e)], [], 0
        ok = common.report(codec, errs, len(got), nparts) and ok
    common.finish(ok)


if __name__ == "__main__":
    main()
