"""Read a topic to its end with confluent_kafka, read_committed, and print
the batch id of every record, one a line, as "KEY BATCH_ID".

usage: consume.py BOOTSTRAP TOPIC GROUP
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError

DEADLINE = time.monotonic() + 30


def main():
    bootstrap, topic, group = sys.argv[1:4]
    c = Consumer({
        # KAFKA_CONFIG: more client properties, as JSON (security settings).
        **json.loads(os.environ.get("KAFKA_CONFIG", "{}")),
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "enable.auto.commit": False,
    })
    assigned, at_end = set(), set()

    def on_assign(consumer, parts):
        assigned.update(p.partition for p in parts)

    c.subscribe([topic], on_assign=on_assign)
    records = 0
    while not assigned or at_end != assigned:
        if time.monotonic() > DEADLINE:
            sys.exit(f"consume.py: timed out: {records} records, partitions at end {sorted(at_end)} of {sorted(assigned)}")
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
                continue
            sys.exit(f"consume.py: {msg.error()}")
        records += 1
        print(msg.key().decode(), json.loads(msg.value())["batch_id"])
    c.close()
    print(f"consume.py: {records} records from {len(assigned)} partitions", file=sys.stderr)


main()
