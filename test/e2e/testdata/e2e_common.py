"""Shared workload and checks for the Python client scripts of the e2e tests.

Record i has key "key-(i mod 37)" and the unique value "<tag>-<i>"; records
are produced in order of i, so each partition must read back with increasing
i. verify() mirrors verifyRoundTrip in records_test.go.
"""

import sys

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
NUM_KEYS = 37


def workload(tag, n):
    """Returns [(key, value)] as bytes."""
    return [
        (("key-%02d" % (i % NUM_KEYS)).encode(), ("%s-%06d" % (tag, i)).encode())
        for i in range(n)
    ]


def verify(sent, delivered, got):
    """Checks a round trip.

    sent: [(key, value)] in produce order.
    delivered: {value: (partition, offset)} as the producer was told, or {}.
    got: [(partition, offset, key, value)] in the order the consumer read them.
    Returns a list of mismatch descriptions (empty when all is well).
    """
    errs = []
    index = {v: i for i, (_, v) in enumerate(sent)}
    seen = {}
    last_index = {}
    last_offset = {}
    key_partition = {}
    for (p, o, k, v) in got:
        i = index.get(v)
        if i is None:
            errs.append("unexpected record p%d@%d key=%r value=%r" % (p, o, k, v))
            continue
        if v in seen:
            errs.append("duplicate value %r at p%d@%d and p%d@%d" % ((v,) + seen[v] + (p, o)))
            continue
        seen[v] = (p, o)
        if k != sent[i][0]:
            errs.append("value %r came back with key %r, sent with %r" % (v, k, sent[i][0]))
        if p in last_index and i <= last_index[p]:
            errs.append("partition %d out of produce order: #%d after #%d" % (p, i, last_index[p]))
        last_index[p] = i
        if p in last_offset and o <= last_offset[p]:
            errs.append("partition %d offsets not increasing: %d after %d" % (p, o, last_offset[p]))
        last_offset[p] = o
        if key_partition.setdefault(k, p) != p:
            errs.append("key %r in partitions %d and %d" % (k, key_partition[k], p))
        if v in delivered and delivered[v] != (p, o):
            errs.append("value %r: producer was told p%d@%d, consumer read p%d@%d" % ((v,) + delivered[v] + (p, o)))
    missing = [v for (_, v) in sent if v not in seen]
    for v in missing[:5]:
        errs.append("lost record %r (producer said %r)" % (v, delivered.get(v)))
    if len(missing) > 5:
        errs.append("... %d records lost in all" % len(missing))
    return errs


def check_producer_keys(sent, delivered):
    """Each key must have been given a single partition by the producer."""
    errs = []
    kp = {}
    for k, v in sent:
        if v not in delivered:
            continue
        p = delivered[v][0]
        if kp.setdefault(k, p) != p:
            errs.append("producer put key %r in partitions %d and %d" % (k, kp[k], p))
    return errs


def report(codec, errs, count, partitions):
    """Prints the outcome for one codec; returns True if it passed."""
    if errs:
        print("FAIL codec=%s: %d mismatches" % (codec, len(errs)))
        for e in errs[:25]:
            print("  " + e)
        return False
    print("OK codec=%s records=%d partitions=%d" % (codec, count, partitions))
    return True


def finish(ok):
    print("PASS" if ok else "FAILED")
    sys.stdout.flush()
    sys.exit(0 if ok else 1)
