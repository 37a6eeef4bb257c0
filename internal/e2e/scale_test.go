package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/producer"
	stage1 "github.com/segmerge/segmerge/repartition"
	"github.com/segmerge/segmerge/verify"
	"github.com/segmerge/segmerge/wire"
)

// members runs n copies of run at once, each with its own config from
// edit(i), and fails the test if any fails.
func members(t *testing.T, n int, run func(context.Context, consumer.Config) error, edit func(i int, cfg *consumer.Config)) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		cfg := consumer.DefaultConfig()
		cfg.FromBeginning, cfg.ExitAtEnd = true, true
		cfg.CommitInterval = 50 * time.Millisecond
		if os.Getenv("SEGMERGE_TEST_LOG") != "" {
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", i)
		}
		edit(i, &cfg)
		wg.Go(func() { errs[i] = run(ctx(t), cfg) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
}

// merger returns a run func for members that adds each member's stats to
// sum.
func merger(sum *consumer.Stats) func(context.Context, consumer.Config) error {
	var mu sync.Mutex
	return func(ctx context.Context, cfg consumer.Config) error {
		st, err := consumer.Run(ctx, cfg)
		mu.Lock()
		defer mu.Unlock()
		sum.Batches += st.Batches
		sum.Bad += st.Bad
		sum.Dropped += st.Dropped
		sum.Cut += st.Cut
		sum.Duplicates += st.Duplicates
		sum.Pending += st.Pending
		return err
	}
}

// repartition runs the repartition stage with what cfg says of it.
func repartition(ctx context.Context, cfg consumer.Config) error {
	rc := stage1.DefaultConfig()
	rc.Brokers, rc.Topic, rc.Group, rc.OutputTopic = cfg.Brokers, cfg.Topic, cfg.Group, cfg.OutputTopic
	rc.FromBeginning, rc.ExitAtEnd, rc.CommitInterval, rc.Log = cfg.FromBeginning, cfg.ExitAtEnd, cfg.CommitInterval, cfg.Log
	_, err := stage1.Run(ctx, rc)
	return err
}

// verifyTopic checks the output topic exactly once, in order per partition.
func verifyTopic(t *testing.T, c *broker.Cluster, input, topic string, n int64) {
	t.Helper()
	rep, err := verify.Run(ctx(t), verify.Config{InputLog: input, Brokers: c.Addrs(), Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Batches != n {
		t.Fatalf("%s %v", rep.Summary(), rep.Problems)
	}
}

// In the batch layout the members of a group, in one process here (the
// binary tests run processes), split the partitions and together write
// every batch once to the output topic, each partition's batches in order.
func TestBatchLayoutSplitAcrossMembers(t *testing.T) {
	c := cluster(t, "")
	const n = 600
	input := produce(t, c, n, func(cfg *producer.Config) { cfg.Layout = producer.LayoutBatch })
	var st consumer.Stats
	members(t, 3, merger(&st), func(i int, cfg *consumer.Config) {
		cfg.Brokers, cfg.Group, cfg.Layout, cfg.OutputTopic = c.Addrs(), "split", consumer.LayoutBatch, "merged"
	})
	if st.Batches != n || st.Bad+st.Dropped+st.Cut+int64(st.Pending) != 0 {
		t.Fatalf("members' stats add up to %+v, want %d batches and nothing else", st, n)
	}
	verifyTopic(t, c, input, "merged", n)
}

// --layout batch in one process, in every mode: each partition is assembled
// on its own, so the file holds every batch once, ascending per partition
// but not across partitions.
func TestBatchLayoutModes(t *testing.T) {
	c := cluster(t, "")
	const n = 300
	input := produce(t, c, n, func(cfg *producer.Config) { cfg.Layout = producer.LayoutBatch })
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			out, st := consume(t, c, func(cfg *consumer.Config) {
				cfg.Mode, cfg.Group, cfg.Layout = mode, "layout-"+mode, consumer.LayoutBatch
			})
			if st.Batches != n || st.Bad+st.Dropped+st.Cut+int64(st.Pending) != 0 {
				t.Fatalf("stats %+v", st)
			}
			rep, err := verify.Run(ctx(t), verify.Config{InputLog: input, OutFile: out, Unordered: true})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Batches != n {
				t.Fatalf("%s %v", rep.Summary(), rep.Problems)
			}
		})
	}
}

// The segment layout over several members: the repartition stage's members
// re-key the segments by batch id, each forwarding its own partitions at
// its own pace, so a by-batch partition interleaves batches; the merge
// stage's members assemble them by lane and write every batch once.
func TestRepartitionThenMergeAcrossMembers(t *testing.T) {
	c := cluster(t, "")
	const n = 600
	input := produce(t, c, n, nil)
	members(t, 3, repartition, func(i int, cfg *consumer.Config) {
		cfg.Brokers, cfg.Group = c.Addrs(), "stage1"
	})
	t.Logf("%d records of by-batch came after a higher batch of their partition", interleaved(t, c, "segment-topic.by-batch"))
	var st consumer.Stats
	members(t, 2, merger(&st), func(i int, cfg *consumer.Config) {
		cfg.Brokers, cfg.Group, cfg.Layout, cfg.OutputTopic = c.Addrs(), "stage2", consumer.LayoutBatch, "merged"
		cfg.Topic = "segment-topic.by-batch"
	})
	if st.Batches != n || st.Bad+st.Dropped+st.Cut+int64(st.Pending) != 0 {
		t.Fatalf("members' stats add up to %+v, want %d batches and nothing else", st, n)
	}
	verifyTopic(t, c, input, "merged", n)
}

// interleaved reads topic (read_committed) and counts the records whose
// batch id is below one already seen in their partition.
func interleaved(t *testing.T, c *broker.Cluster, topic string) int {
	t.Helper()
	cl, err := kafka.Cluster{Brokers: c.Addrs()}.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	top := map[int32]int64{}
	n := 0
	for {
		pctx, cancel := context.WithTimeout(ctx(t), time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			return n
		}
		fs.EachRecord(func(r *kgo.Record) {
			id, err := strconv.ParseInt(string(r.Key), 10, 64)
			if err != nil {
				t.Fatalf("%s/%d@%d: key %q is not a batch id", r.Topic, r.Partition, r.Offset, r.Key)
			}
			if hi, ok := top[r.Partition]; ok && id < hi {
				n++
			}
			top[r.Partition] = max(top[r.Partition], id)
		})
	}
}

// A by-batch partition whose lanes run far apart (here every record of lane
// 3 comes after all of lanes 0-2: a repartition member that lagged) still
// gives whole batches, once: the merge stage waits for the lagging lane
// instead of refusing its records as going backwards. A run stopped with -c
// commits below records of batches it wrote (a lagging lane completed them);
// the next run reads those records again and, by the floor its commit
// carries, recognises them as records of batches done (duplicates), not as
// new or incomplete batches.
func TestLanesFarApart(t *testing.T) {
	c := cluster(t, "")
	const (
		n     = 120
		lanes = 4 // the source topic's partitions = segments a batch
		parts = 3 // by-batch partitions
		topic = "far.by-batch"
	)
	w := rawWriter(t, c, topic, parts)
	input := filepath.Join(t.TempDir(), "input.jsonl")
	var log []byte
	var recs []*kgo.Record
	for _, laneSet := range [][]int64{{0, 1, 2}, {3}} {
		for b := range int64(n) {
			for _, s := range laneSet {
				seg := wire.Segment{BatchID: b, SegmentID: s, Segments: lanes, Last: true, Data: []int64{s, b + s, b + s + 10}}
				v := wire.AppendSegment(nil, &seg)
				log = append(append(log, v...), '\n')
				recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(b % parts), Key: []byte(strconv.FormatInt(b, 10)), Value: v,
					Headers: []kgo.RecordHeader{
						{Key: consumer.HeaderSource, Value: fmt.Appendf(nil, "far/%d@%d", s, b)},
						{Key: consumer.HeaderPartitions, Value: []byte(strconv.Itoa(lanes))},
					}})
			}
		}
	}
	if err := w.ProduceSync(ctx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, log, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(count int64) consumer.Stats {
		var st consumer.Stats
		members(t, 1, merger(&st), func(_ int, cfg *consumer.Config) {
			cfg.Brokers, cfg.Group, cfg.Layout, cfg.OutputTopic = c.Addrs(), "far", consumer.LayoutBatch, "merged"
			cfg.Topic, cfg.Count = topic, count
		})
		return st
	}
	first := run(n / 2)
	second := run(0)
	t.Logf("first run %+v, second %+v", first, second)
	if first.Batches != n/2 || second.Batches != n/2 {
		t.Fatalf("the runs wrote %d and %d batches, want %d each", first.Batches, second.Batches, n/2)
	}
	if second.Duplicates == 0 || first.Bad+second.Bad+first.Dropped+second.Dropped+first.Cut+second.Cut != 0 {
		t.Fatalf("want records of batches done recognised as such by the second run and nothing dead-lettered or cut: first %+v, second %+v", first, second)
	}
	verifyTopic(t, c, input, "merged", n)
}

// Records of a batch-layout topic that the lanes refuse, one class per
// case: each lands in <topic>.dlq with its reason and the good batches are
// written. Two partitions; batches of 2 segments whose records carry lane
// headers for a source of 2 partitions (lane = segment).
func TestLaneBadRecords(t *testing.T) {
	type lrec struct {
		p     int32
		v     string
		lane  string // segmerge.source's partition, "" for no headers
		parts string // segmerge.partitions
	}
	seg := func(p int32, b, s int, lane, parts string) lrec {
		return lrec{p, fmt.Sprintf(`{"batch_id":%d,"segment_id":%d,"segments":2,"data":[%d]}`, b, s, 10*b+s), lane, parts}
	}
	// Lane 0 runs ahead of lane 1 in partition 0: batch ids go 0, 2, 0, 2.
	good := []lrec{seg(0, 0, 0, "0", "2"), seg(0, 2, 0, "0", "2"), seg(1, 1, 0, "0", "2"), seg(0, 0, 1, "1", "2"), seg(1, 1, 1, "1", "2"), seg(0, 2, 1, "1", "2")}
	const want = `{"batch_id":0,"data":[0,1]}` + "\n" + `{"batch_id":1,"data":[10,11]}` + "\n" + `{"batch_id":2,"data":[20,21]}` + "\n"
	tests := []struct {
		name   string
		extra  lrec
		reason string
	}{
		{"lanes interleaved, nothing bad", lrec{}, ""},
		{"not on batch_id mod P", seg(0, 5, 0, "0", "2"), assemble.ReasonLayout},
		{"partition count not a number", seg(0, 4, 0, "0", "two"), assemble.ReasonLanes},
		{"lane outside the partition count", seg(0, 4, 0, "2", "2"), assemble.ReasonLanes},
		{"partition count disagrees", seg(0, 4, 0, "0", "3"), assemble.ReasonLanes},
		{"backwards in its lane", seg(0, 0, 0, "0", "2"), "backwards"},
	}
	c := cluster(t, "")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("lanes-%d.by-batch", i)
			cl := rawWriter(t, c, topic, 2)
			recs := good
			if tt.extra.v != "" {
				recs = append(append([]lrec(nil), good[:3]...), tt.extra)
				recs = append(recs, good[3:]...)
			}
			for _, r := range recs {
				kr := &kgo.Record{Topic: topic, Partition: r.p, Value: []byte(r.v)}
				if r.lane != "" {
					kr.Headers = []kgo.RecordHeader{
						{Key: consumer.HeaderSource, Value: []byte("src/" + r.lane + "@0")},
						{Key: consumer.HeaderPartitions, Value: []byte(r.parts)},
					}
				}
				if err := cl.ProduceSync(ctx(t), kr).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			out, st := consume(t, c, func(cfg *consumer.Config) {
				cfg.Topic, cfg.Group, cfg.Segments, cfg.Layout = topic, "g-"+topic, 2, consumer.LayoutBatch
			})
			body, _ := os.ReadFile(out)
			lines := strings.SplitAfter(string(body), "\n")
			slices.Sort(lines)
			if got := strings.Join(lines, ""); got != want {
				t.Fatalf("output (sorted):\n%s\nwant:\n%s\nstats %+v", got, want, st)
			}
			wantDeadLetter(t, c.Addrs(), topic+".dlq", tt.reason)
		})
	}
}

// The repartition stage sends a record it cannot decode to <topic>.dlq, with
// the merge stage's headers and its own group, and forwards the rest.
func TestRepartitionDeadLetters(t *testing.T) {
	c := cluster(t, "")
	const topic = "rp"
	cl := rawWriter(t, c, topic, 2)
	for _, r := range []rec{{0, `{"batch_id":0,"segment_id":0,"segments":2,"data":[1,5]}`}, {0, `{"batch_id":1,`}, {1, `{"batch_id":0,"segment_id":1,"segments":2,"data":[2]}`}} {
		if err := cl.ProduceSync(ctx(t), &kgo.Record{Topic: topic, Partition: r.p, Value: []byte(r.v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	members(t, 1, repartition, func(_ int, cfg *consumer.Config) { cfg.Brokers, cfg.Topic, cfg.Group = c.Addrs(), topic, "rp1" })
	out, st := consume(t, c, func(cfg *consumer.Config) {
		cfg.Topic, cfg.Group, cfg.Layout = topic+".by-batch", "rp2", consumer.LayoutBatch
	})
	if body, _ := os.ReadFile(out); string(body) != `{"batch_id":0,"data":[1,2,5]}`+"\n" {
		t.Fatalf("output %q, stats %+v", body, st)
	}
	dead := deadLetters(t, c.Addrs(), topic+".dlq", 1)
	if len(dead) != 1 || dead[0].reason != "not-json" || dead[0].source != topic+"/0@1" {
		t.Fatalf("dead letters %+v, want the not-JSON record from %s/0@1", dead, topic)
	}
}
