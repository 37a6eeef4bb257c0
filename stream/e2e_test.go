package stream_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/stream"
)

// cluster starts an embedded cluster on free 127.0.0.1 ports; it is closed
// when the test ends.
func cluster(t *testing.T) *broker.Cluster {
	t.Helper()
	c, err := broker.Start(broker.Config{Listen: []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func admin(t *testing.T, addrs []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// in is a record of a test input, as produced.
type in struct {
	part   int32
	offset int64
	ts     int64 // milliseconds
	value  string
}

// shape says how sortedInput draws a topic.
type shape struct {
	parts    int32
	perPart  int
	unsorted int // records that go back in time, in all
}

// sortedInput draws records for each partition, sorted by timestamp with
// ties, per-partition skew and gaps, and sh.unsorted records going back
// in time; the value of each says where it was written.
func sortedInput(seed uint64, sh shape) [][]in {
	rng := rand.New(rand.NewPCG(seed, 1))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	out := make([][]in, sh.parts)
	for p := range out {
		ts := base + int64(p)*int64(rng.IntN(5000)) // skew between partitions
		for i := range sh.perPart {
			switch rng.IntN(50) {
			case 0:
				ts += int64(rng.IntN(3000)) // a gap
			default:
				ts += int64(rng.IntN(4)) // ties too
			}
			out[p] = append(out[p], in{part: int32(p), offset: int64(i), ts: ts, value: fmt.Sprintf(`{"p":%d,"i":%d,"ts":%d}`, p, i, ts)})
		}
	}
	for range sh.unsorted {
		p := rng.IntN(int(sh.parts))
		if len(out[p]) < 2 {
			continue
		}
		i := 1 + rng.IntN(len(out[p])-1)
		r := &out[p][i]
		r.ts = out[p][i-1].ts - 1 - int64(rng.IntN(100))
		r.value = fmt.Sprintf(`{"p":%d,"i":%d,"ts":%d}`, p, i, r.ts)
	}
	return out
}

// produceInput creates topic with a partition per lane and writes each
// lane to its partition with its timestamps, with the producer's options
// opts.
func produceInput(t *testing.T, addrs []string, topic string, lanes [][]in, opts ...kgo.Opt) {
	t.Helper()
	ctx := testCtx(t)
	adm := admin(t, addrs)
	if _, err := adm.CreateTopic(ctx, int32(len(lanes)), -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, lane := range lanes {
		for _, r := range lane {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: r.part, Value: []byte(r.value), Timestamp: time.UnixMilli(r.ts),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// reference is what the stream must write for lanes, and the records it
// must dead-letter as unsorted: a partition's records below its previous
// key (the last one not unsorted) are unsorted; the rest merged by
// timestamp, partition, offset.
func reference(lanes [][]in) (merged, unsorted []in) {
	for _, lane := range lanes {
		var prev int64
		has := false
		for _, r := range lane {
			if has && r.ts < prev {
				unsorted = append(unsorted, r)
				continue
			}
			prev, has = r.ts, true
			merged = append(merged, r)
		}
	}
	slices.SortFunc(merged, func(a, b in) int {
		return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.part, b.part), cmp.Compare(a.offset, b.offset))
	})
	return merged, unsorted
}

// out is a record read back from the output or dead-letter topic.
type out struct {
	value   string
	ts      int64
	source  string
	reason  string
	headers []kgo.RecordHeader
}

// readCommitted reads topic from the start with read_committed until it
// holds want records and every transaction on it has ended, within d.
func readCommitted(t *testing.T, addrs []string, topic string, want int, d time.Duration) []out {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var got []out
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			o := out{value: string(r.Value), ts: r.Timestamp.UnixMilli(), headers: r.Headers}
			for _, h := range r.Headers {
				switch h.Key {
				case kafka.HeaderSource:
					o.source = string(h.Value)
				case kafka.HeaderReason:
					o.reason = string(h.Value)
				}
			}
			got = append(got, o)
		})
		if len(got) >= want && settled(t, adm, topic) {
			return got
		}
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ends, _ := adm.ListEndOffsets(ctx, topic)
			stable, _ := adm.ListCommittedOffsets(ctx, topic)
			cancel()
			t.Fatalf("read %d records of %s in %v, want %d (end offsets %v, stable %v)", len(got), topic, d, want, ends.Offsets(), stable.Offsets())
		}
	}
}

// settled reports whether no transaction is open on topic: its last
// stable offsets are its high watermarks.
func settled(t *testing.T, adm *kadm.Client, topic string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err1 := adm.ListEndOffsets(ctx, topic)
	stable, err2 := adm.ListCommittedOffsets(ctx, topic)
	if err1 != nil || err2 != nil {
		return false
	}
	same := true
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := stable.Lookup(topic, o.Partition); !ok || s.Offset != o.Offset {
			same = false
		}
	})
	return same
}

// checkOutput fails unless got is want exactly: every value, in order,
// with its timestamp, and its source header.
func checkOutput(t *testing.T, topic string, got []out, want []in) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the output holds %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		src := fmt.Sprintf("%s/%d@%d", topic, w.part, w.offset)
		if g.value != w.value || g.ts != w.ts || g.source != src {
			t.Fatalf("record %d of the output: %s at %d from %s; want %s at %d from %s", i, g.value, g.ts, g.source, w.value, w.ts, src)
		}
		if len(g.headers) != 2 || g.headers[0].Key != "h" {
			t.Fatalf("record %d of the output has headers %v, want the input's and the source", i, g.headers)
		}
	}
}

func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("SEGMERGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func config(addrs []string, topic string) stream.Config {
	cfg := stream.DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.OutputTopic, cfg.FromBeginning, cfg.ExitAtEnd = addrs, topic, topic+".ordered", true, true
	cfg.CommitInterval, cfg.SessionTimeout, cfg.TransactionTimeout = 50*time.Millisecond, 6*time.Second, 10*time.Second
	return cfg
}

// A skewed, gapped topic with unsorted records comes out as the reference
// merge, the unsorted records in the dead letters; run again, the group
// writes nothing more.
func TestStreamMatchesReferenceMerge(t *testing.T) {
	c := cluster(t)
	addrs := c.Addrs()
	lanes := sortedInput(1, shape{parts: 4, perPart: 500, unsorted: 6})
	produceInput(t, addrs, "ticks", lanes)
	want, unsorted := reference(lanes)
	cfg := config(addrs, "ticks")
	cfg.Log = testLog(t)
	st, err := stream.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != int64(len(want)) || st.Unsorted != int64(len(unsorted)) || st.Late != 0 || st.Bad != 0 {
		t.Fatalf("stats %+v; want %d records, %d unsorted", st, len(want), len(unsorted))
	}
	checkOutput(t, "ticks", readCommitted(t, addrs, "ticks.ordered", len(want), 30*time.Second), want)
	dead := readCommitted(t, addrs, "ticks.dlq", len(unsorted), 30*time.Second)
	if len(dead) != len(unsorted) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(unsorted))
	}
	for _, d := range dead {
		if d.reason != stream.ReasonUnsorted {
			t.Fatalf("dead letter %s with reason %q, want unsorted", d.value, d.reason)
		}
	}
	st, err = stream.Run(testCtx(t), cfg)
	if err != nil || st.Records != 0 || st.Unsorted != 0 {
		t.Fatalf("second run: %+v, %v; want nothing written", st, err)
	}
}

// A run that exits at the end and a second one over records produced
// since resume from the group's commits: the output is the reference
// merge of both, each record once.
func TestStreamResumes(t *testing.T) {
	c := cluster(t)
	addrs := c.Addrs()
	lanes := sortedInput(3, shape{parts: 3, perPart: 300, unsorted: 3})
	produceInput(t, addrs, "resumed", lanes)
	cfg := config(addrs, "resumed")
	cfg.Log = testLog(t)
	if _, err := stream.Run(testCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	more := sortedInput(4, shape{parts: 3, perPart: 200, unsorted: 2})
	var flat []in
	for p := range more {
		for i := range more[p] {
			r := &more[p][i]
			r.ts += 1 << 40 // after the first records
			r.offset += int64(len(lanes[p]))
			r.value = fmt.Sprintf(`{"p":%d,"i":%d,"ts":%d}`, p, r.offset, r.ts)
		}
		flat = append(flat, more[p]...)
		lanes[p] = append(lanes[p], more[p]...)
	}
	produceMore(t, addrs, "resumed", flat...)
	st, err := stream.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want, unsorted := reference(lanes)
	t.Logf("second run: %+v", st)
	checkOutput(t, "resumed", readCommitted(t, addrs, "resumed.ordered", len(want), 30*time.Second), want)
	if dead := readCommitted(t, addrs, "resumed.dlq", len(unsorted), 30*time.Second); len(dead) != len(unsorted) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(unsorted))
	}
}
