"""kafka-python: an acks=all producer and a group consumer in one process,
for clients_test.go (line protocol in clients_common.py).

kafka-python 2.0 has no idempotent producer, so a retried request can write
a record twice; the test allows duplicates for it. Durability settings as
its users set them: acks="all", retries (its default is 0: a failed request
is not retried) and max_in_flight_requests_per_connection=1, without which
a retry can reorder records.
"""

import time

from kafka import KafkaConsumer, KafkaProducer

from clients_common import Control, emit, parse_args


def main():
    args = parse_args()
    ctl = Control()
    servers = args.bootstrap.split(",")
    p = KafkaProducer(
        bootstrap_servers=servers,
        client_id=args.name + "-producer",
        acks="all",
        retries=100,
        retry_backoff_ms=200,
        max_in_flight_requests_per_connection=1,
        linger_ms=5,
        metadata_max_age_ms=5000,
    )
    c = KafkaConsumer(
        args.topic,
        bootstrap_servers=servers,
        client_id=args.name + "-consumer",
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=500,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
        metadata_max_age_ms=5000,
    )
    emit("ready")

    pending = set()  # sequence numbers sent and not yet answered

    def acked(seq):
        def cb(md):
            pending.discard(seq)
            emit("ack", seq, md.partition, md.offset)
        return cb

    def failed(seq):
        def cb(exc):
            pending.discard(seq)
            emit("fail", seq, repr(exc))
        return cb

    seq, interval = 0, args.interval_ms / 1000.0
    next_at = time.monotonic()
    flushed = False
    while not ctl.exit.is_set():
        now = time.monotonic()
        if not ctl.stop.is_set() and now >= next_at:
            pending.add(seq)
            emit("sent", seq)
            try:
                f = p.send(args.topic, key=b"k", value=str(seq).encode())
            except Exception as exc:  # e.g. no metadata within max_block_ms
                failed(seq)(exc)
            else:
                f.add_callback(acked(seq))
                f.add_errback(failed(seq))
            seq += 1
            next_at += interval
        if ctl.stop.is_set() and not flushed and not pending:
            emit("flushed")
            flushed = True
        for tp, msgs in c.poll(timeout_ms=5, max_records=200).items():
            for m in msgs:
                emit("rec", m.partition, m.offset, m.value.decode())
    c.close()
    p.close(timeout=5)


if __name__ == "__main__":
    main()
