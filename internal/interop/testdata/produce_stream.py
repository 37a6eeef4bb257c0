"""Per-partition streams sorted by timestamp, with confluent_kafka.

usage: produce_stream.py BOOTSTRAP TOPIC RECORDS_PER_PARTITION SEED

TOPIC must exist. Writes RECORDS_PER_PARTITION records to each of its
partitions, with timestamps chosen here: sorted within a partition (ties
and gaps included), partitions skewed against each other, and one record
a partition going back in time (unsorted). Prints every record the broker
acknowledged, one JSON object a line: partition, offset, timestamp, value.
"""
import json
import random
import sys

from confluent_kafka import Producer


def main():
    bootstrap, topic, per, seed = sys.argv[1:5]
    per, seed = int(per), int(seed)
    rng = random.Random(seed)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    parts = len(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    acked, errors = [], []

    def delivered(err, msg):
        if err is not None:
            errors.append(err)
            return
        acked.append({"p": msg.partition(), "offset": msg.offset(),
                      "ts": msg.timestamp()[1], "value": msg.value().decode()})

    base = 1_700_000_000_000
    for p in range(parts):
        ts = base + rng.randrange(3000)
        back = rng.randrange(1, per)
        for i in range(per):
            prev = ts
            ts += rng.randrange(4) if rng.randrange(50) else rng.randrange(2000)
            t = prev - 1 - rng.randrange(100) if i == back else ts
            value = json.dumps({"p": p, "i": i, "ts": t}, separators=(",", ":"))
            producer.produce(topic, value=value, partition=p, timestamp=t, on_delivery=delivered)
            producer.poll(0)
    if producer.flush(30) != 0 or errors:
        sys.exit(f"not delivered: {errors}")
    for a in acked:
        print(json.dumps(a))


if __name__ == "__main__":
    main()
