"""What the Python client scripts of clients_test.go share.

Each script produces records "0", "1", "2" ... (key "k") to a one-partition
topic, one every --interval-ms, and consumes the topic in a consumer group
at the same time. It reports on stdout, one event a line:

  ready                              producer and consumer made
  sent <seq>                         record <seq> handed to the producer
  ack <seq> <partition> <offset>     record <seq> acknowledged (acks=all)
  fail <seq> <error>                 record <seq> given up by the client
  rec <partition> <offset> <value>   a record the group consumer got
  flushed                            after "stop": no record in flight
  error <text>                       an error the client reported

and reads commands on stdin: "stop" stops producing (the consumer goes on);
EOF (the test is done, or gone) closes the consumer and exits.
"""

import argparse
import sys
import threading


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--interval-ms", type=float, default=20)
    return ap.parse_args()


_lock = threading.Lock()


def emit(*fields):
    """Writes one event line; callable from any thread."""
    line = " ".join(str(f) for f in fields).replace("\n", " ") + "\n"
    with _lock:
        sys.stdout.write(line)
        sys.stdout.flush()


class Control:
    """The test's commands, read on a thread of their own."""

    def __init__(self):
        self.stop = threading.Event()  # stop producing
        self.exit = threading.Event()  # close and exit
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in sys.stdin:
            if line.strip() == "stop":
                self.stop.set()
        self.stop.set()
        self.exit.set()
