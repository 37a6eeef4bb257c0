"""The original take-home's producer shape, with confluent_kafka.

usage: produce.py BOOTSTRAP TOPIC BATCHES SEED INPUT_LOG

Deletes TOPIC if present, creates it with 10 partitions, writes BATCHES
batches of 10 random sorted segments (segment s on partition s), and writes
every value the broker acknowledged to INPUT_LOG, one JSON value per line.
"""
import json
import os
import random
import sys
import time

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

SEGMENTS = 10
DEADLINE = time.monotonic() + 30


def main():
    bootstrap, topic, batches, seed, input_log = sys.argv[1:6]
    batches, seed = int(batches), int(seed)
    # KAFKA_CONFIG: more client properties, as JSON (security settings).
    conf = {"bootstrap.servers": bootstrap, **json.loads(os.environ.get("KAFKA_CONFIG", "{}"))}

    admin = AdminClient(conf)
    if topic in admin.list_topics(timeout=10).topics:
        for fut in admin.delete_topics([topic], operation_timeout=10).values():
            fut.result()
    # A real cluster deletes asynchronously: retry while the old topic lingers.
    while True:
        fut = admin.create_topics([NewTopic(topic, num_partitions=SEGMENTS, replication_factor=1)])[topic]
        try:
            fut.result()
            break
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS or time.monotonic() > DEADLINE:
                raise
            time.sleep(0.1)

    rng = random.Random(seed)
    errors = []
    with open(input_log, "w") as log:
        def delivered(err, msg):
            if err is not None:
                errors.append(err)
            else:
                log.write(msg.value().decode() + "\n")

        p = Producer(conf)
        for b in range(batches):
            for s in range(SEGMENTS):
                data = sorted(rng.randint(1, 10) for _ in range(rng.randint(10, 20)))
                value = json.dumps({"batch_id": b, "segment_id": s, "data": data}, separators=(",", ":"))
                p.produce(topic, value.encode(), partition=s, on_delivery=delivered)
            p.poll(0)
        left = p.flush(max(DEADLINE - time.monotonic(), 1))
    if errors or left:
        sys.exit(f"produce.py: {len(errors)} delivery errors {errors[:3]}, {left} undelivered")
    print(f"produced {batches} batches to {topic}")


main()
