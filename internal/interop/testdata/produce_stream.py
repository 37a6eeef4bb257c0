"""Per-partition streams sorted by timestamp, with confluent_kafka.

usage: produce_stream.py BOOTSTRAP TOPIC RECORDS_PER_PARTITION SEED
                         [--back N] [--chunk N [--pause-ms MS] [--gate]]

TOPIC must exist. Writes RECORDS_PER_PARTITION records to each of its
partitions, with timestamps chosen here: sorted within a partition (ties
and gaps included), partitions skewed against each other, and --back
records a partition (1 by default) going back in time (unsorted). The
records go out in timestamp order over all partitions (a record going
back goes early). Prints every record the broker acknowledged, one JSON
object a line: partition, offset, timestamp, value.

With --chunk, it writes --chunk records at a time, waits for the broker
to acknowledge them, prints them, and sleeps --pause-ms: a steady feed
whose progress the caller reads as it goes. With --gate as well, it
reads a line from standard input before each chunk: the caller sets the
pace, and can hold the feed while it waits for something; at the end of
standard input the chunks go on ungated.
"""
import argparse
import heapq
import json
import random
import sys
import time

from confluent_kafka import Producer


def lanes(parts, per, back, rng):
    """Each partition's records: (timestamp, partition, value)."""
    base = 1_700_000_000_000
    out = []
    for p in range(parts):
        ts = base + rng.randrange(3000)
        # Odd indices only: no two records going back are neighbours, so
        # each is below the last sorted record before it.
        backs = set(rng.sample(range(1, per, 2), back))
        lane = []
        for i in range(per):
            prev = ts
            ts += rng.randrange(4) if rng.randrange(50) else rng.randrange(2000)
            t = prev - 1 - rng.randrange(100) if i in backs else ts
            lane.append((t, p, json.dumps({"p": p, "i": i, "ts": t}, separators=(",", ":"))))
        out.append(lane)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("topic")
    ap.add_argument("per", type=int)
    ap.add_argument("seed", type=int)
    ap.add_argument("--back", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=0)
    ap.add_argument("--pause-ms", type=int, default=0)
    ap.add_argument("--gate", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    producer = Producer({"bootstrap.servers": a.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    parts = len(producer.list_topics(a.topic, timeout=10).topics[a.topic].partitions)
    acked, errors = [], []
    gated = a.gate

    def delivered(err, msg):
        if err is not None:
            errors.append(err)
            return
        acked.append({"p": msg.partition(), "offset": msg.offset(),
                      "ts": msg.timestamp()[1], "value": msg.value().decode()})

    def settle():
        if producer.flush(30) != 0 or errors:
            sys.exit(f"not delivered: {errors}")
        for r in acked:
            print(json.dumps(r))
        sys.stdout.flush()
        acked.clear()

    # heapq.merge takes each lane's next record by (timestamp, partition):
    # a record going back in time comes out as soon as it is a lane's next.
    for n, (t, p, value) in enumerate(heapq.merge(*lanes(parts, a.per, a.back, rng)), 1):
        if gated and a.chunk and (n - 1) % a.chunk == 0 and not sys.stdin.readline():
            gated = False
        producer.produce(a.topic, value=value, partition=p, timestamp=t, on_delivery=delivered)
        producer.poll(0)
        if a.chunk and n % a.chunk == 0:
            settle()
            time.sleep(a.pause_ms / 1000)
    settle()


if __name__ == "__main__":
    main()
