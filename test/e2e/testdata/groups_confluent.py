"""One consumer group member on librdkafka's Python binding (confluent-kafka).

Subscribes to a topic with a group id and reports, one JSON object per line
on stdout, what the e2e tests of groups watch:

  {"ev": "assigned", "parts": [0, 3]}   partitions added to this member
  {"ev": "revoked", "parts": [0]}       partitions taken away (or lost)
  {"ev": "rec", "p": 0, "o": 5, "v": "value"}
  {"ev": "error", "msg": "..."}

With an eager assignor the callbacks carry the whole assignment, with
cooperative-sticky only the changes; either way the lines are increments.
SIGTERM, or EOF on stdin (the test is gone), makes it close the consumer
(committing and leaving the group, or, for a static member, just
committing) and exit 0. Run by groups_*_test.go.
"""

import argparse
import json
import signal
import sys
import threading

from confluent_kafka import Consumer, KafkaError


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--assignor", default="range")
    ap.add_argument("--instance", default="")
    ap.add_argument("--name", default="confluent")
    args = ap.parse_args()

    conf = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "client.id": args.name,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 300,
        "partition.assignment.strategy": args.assignor,
        "error_cb": lambda err: emit({"ev": "error", "msg": str(err)}),
    }
    if args.instance:
        conf["group.instance.id"] = args.instance
    c = Consumer(conf)

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))

    def watch_stdin():
        # The test holds stdin open: EOF means it is gone.
        sys.stdin.read()
        stop.update(now=True)

    threading.Thread(target=watch_stdin, daemon=True).start()

    def parts(ps):
        return sorted(p.partition for p in ps if p.topic == args.topic)

    c.subscribe(
        [args.topic],
        on_assign=lambda _c, ps: emit({"ev": "assigned", "parts": parts(ps)}),
        on_revoke=lambda _c, ps: emit({"ev": "revoked", "parts": parts(ps)}),
        on_lost=lambda _c, ps: emit({"ev": "revoked", "parts": parts(ps)}),
    )
    emit({"ev": "ready"})
    while not stop["now"]:
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                emit({"ev": "error", "msg": str(msg.error())})
            continue
        emit({"ev": "rec", "p": msg.partition(), "o": msg.offset(), "v": msg.value().decode()})
    c.close()
    emit({"ev": "closed"})


if __name__ == "__main__":
    main()
