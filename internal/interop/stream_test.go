package interop

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/stream"
)

// A confluent_kafka producer writes partitions each sorted by timestamps it
// chooses, with one record a partition going back in time; segmerge stream
// orders them into one partition of an output topic. A read_committed
// read of it is the reference merge (by timestamp, partition, offset) of
// every record but the ones going back, and those are in the dead letters.
func TestPythonStreamByTimestamp(t *testing.T) {
	requireTools(t, confluentKafka)
	c := cluster(t)
	const (
		topic = "py-ticks"
		parts = 3
		per   = 400
	)
	createTopic(t, c, topic, parts)
	type rec struct {
		P      int32  `json:"p"`
		Offset int64  `json:"offset"`
		Ts     int64  `json:"ts"`
		Value  string `json:"value"`
	}
	var acked []rec
	for _, line := range lines(run(t, "", python, "testdata/produce_stream.py", c.Bootstrap(), topic, strconv.Itoa(per), "3")) {
		var r rec
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		acked = append(acked, r)
	}
	if len(acked) != parts*per {
		t.Fatalf("the producer acknowledged %d records, want %d", len(acked), parts*per)
	}
	// The reference: each partition in offset order, a record below the
	// previous one kept is unsorted; the rest merged.
	slices.SortFunc(acked, func(a, b rec) int { return cmp.Or(cmp.Compare(a.P, b.P), cmp.Compare(a.Offset, b.Offset)) })
	var want []rec
	unsorted := 0
	prev := map[int32]int64{}
	for _, r := range acked {
		if p, ok := prev[r.P]; ok && r.Ts < p {
			unsorted++
			continue
		}
		prev[r.P] = r.Ts
		want = append(want, r)
	}
	slices.SortFunc(want, func(a, b rec) int {
		return cmp.Or(cmp.Compare(a.Ts, b.Ts), cmp.Compare(a.P, b.P), cmp.Compare(a.Offset, b.Offset))
	})

	cfg := stream.DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.OutputTopic = c.Addrs(), topic, topic+".ordered"
	cfg.FromBeginning, cfg.ExitAtEnd, cfg.CommitInterval = true, true, 50*time.Millisecond
	st, err := stream.Run(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != int64(len(want)) || st.Unsorted != int64(unsorted) || unsorted != parts {
		t.Fatalf("stats %+v: want %d records and %d unsorted, one a partition", st, len(want), parts)
	}
	got := readAll(t, c.Addrs(), cfg.OutputTopic, len(want))
	for i, w := range want {
		g := got[i]
		if string(g.Value) != w.Value || g.Timestamp.UnixMilli() != w.Ts || g.Partition != 0 {
			t.Fatalf("output record %d: %s at %d on partition %d; want %s at %d", i, g.Value, g.Timestamp.UnixMilli(), g.Partition, w.Value, w.Ts)
		}
	}
	if dead := readAll(t, c.Addrs(), topic+".dlq", unsorted); len(dead) != unsorted {
		t.Fatalf("%d dead letters, want %d", len(dead), unsorted)
	}
}

// readAll reads n records of topic from its start, read_committed.
func readAll(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx(t), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}
