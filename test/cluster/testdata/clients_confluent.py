"""librdkafka through confluent-kafka: an idempotent acks=all producer and a
group consumer in one process, for clients_test.go (line protocol in
clients_common.py).

Durability settings as librdkafka's users set them: enable.idempotence=true
(which implies acks=all, retries without limit and at most 5 requests in
flight, order kept), acks=all spelled out, and a delivery timeout
(message.timeout.ms) that bounds how long a record is retried.
"""

import time

from confluent_kafka import Consumer, Producer

from clients_common import Control, emit, parse_args


def main():
    args = parse_args()
    ctl = Control()
    p = Producer({
        "bootstrap.servers": args.bootstrap,
        "client.id": args.name + "-producer",
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 30000,
        "linger.ms": 5,
        "retry.backoff.ms": 100,
        "error_cb": lambda err: emit("error", "producer:", err),
    })
    c = Consumer({
        "bootstrap.servers": args.bootstrap,
        "client.id": args.name + "-consumer",
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 500,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
        "error_cb": lambda err: emit("error", "consumer:", err),
    })
    c.subscribe([args.topic])
    emit("ready")

    def delivered(seq):
        def cb(err, msg):
            if err is not None:
                emit("fail", seq, err)
            else:
                emit("ack", seq, msg.partition(), msg.offset())
        return cb

    seq, interval = 0, args.interval_ms / 1000.0
    next_at = time.monotonic()
    flushed = False
    while not ctl.exit.is_set():
        now = time.monotonic()
        if not ctl.stop.is_set() and now >= next_at:
            p.produce(args.topic, key=b"k", value=str(seq).encode(), on_delivery=delivered(seq))
            emit("sent", seq)
            seq += 1
            next_at += interval
        p.poll(0)
        if ctl.stop.is_set() and not flushed and len(p) == 0:
            emit("flushed")
            flushed = True
        msg = c.poll(0.005)
        if msg is None:
            continue
        if msg.error():
            emit("error", "consumer:", msg.error())
            continue
        emit("rec", msg.partition(), msg.offset(), msg.value().decode())
    c.close()
    p.flush(5)


if __name__ == "__main__":
    main()
