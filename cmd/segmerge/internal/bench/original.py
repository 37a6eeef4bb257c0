"""The original simple consumer's algorithm, on librdkafka: the bench's baseline.

usage: original.py BOOTSTRAP TOPIC OUT SEGMENTS [-X KEY=VALUE]... [-F FILE]

One confluent_kafka consumer reads every partition of TOPIC from its start
to its end (enable.partition.eof), one record a poll(). Each record's
JSON is parsed and its segment kept in a dict of batches; when a batch
holds SEGMENTS segments, they are merged with heapq.merge and the batch
is written to OUT as one JSON line, {"batch_id":B,"data":[...]}, in the
order batches complete. Nothing is committed, nothing goes to a
dead-letter topic and no group is joined: it is the algorithm at its
fastest, not a consumer to run. The take-home's code is not here; this
is its simple consumer as the project's history describes it. -X and -F
give librdkafka properties, as kcat takes them (a secured cluster).
"""
import heapq
import json
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition


def properties(args):
    """The librdkafka properties given by -X KEY=VALUE and -F FILE."""
    props = {}
    it = iter(args)
    for flag in it:
        value = next(it)
        if flag == "-X":
            key, _, v = value.partition("=")
            props[key] = v
        elif flag == "-F":
            with open(value) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        key, _, v = line.partition("=")
                        props[key.strip()] = v.strip()
        else:
            sys.exit(f"original.py: unknown flag {flag}")
    return props


def main():
    bootstrap, topic, out, segments = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "segmerge-bench-original",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    }
    conf.update(properties(sys.argv[5:]))
    c = Consumer(conf)
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    batches = {}
    ended = set()
    with open(out, "w") as f:
        while len(ended) < len(parts):
            msg = c.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    ended.add(msg.partition())
                    continue
                sys.exit(f"original.py: {msg.error()}")
            rec = json.loads(msg.value())
            segs = batches.setdefault(rec["batch_id"], {})
            segs[rec["segment_id"]] = rec["data"]
            if len(segs) == segments:
                del batches[rec["batch_id"]]
                merged = list(heapq.merge(*segs.values()))
                f.write(json.dumps({"batch_id": rec["batch_id"], "data": merged}, separators=(",", ":")) + "\n")
    c.close()


if __name__ == "__main__":
    main()
