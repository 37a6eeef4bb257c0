package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/sink"
	"github.com/segmerge/segmerge/wire"
)

// goodBatches writes batches from..to-1 of segs segments in the segment
// layout with w (segment s on partition s mod P), logging each record to
// log, and returns log.
func goodBatches(t *testing.T, w *kgo.Client, topic string, parts int32, from, to, segs int64, log []byte) []byte {
	t.Helper()
	var recs []*kgo.Record
	for b := from; b < to; b++ {
		for s := range segs {
			seg := wire.Segment{BatchID: b, SegmentID: s, Segments: segs, Last: true, Data: []int64{s, b + s, b + 2*s + 1}}
			v := wire.AppendSegment(nil, &seg)
			log = append(append(log, v...), '\n')
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(s % int64(parts)), Value: v})
		}
	}
	if err := w.ProduceSync(ctx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return log
}

// dlqRecords reads every committed record of topic (read_committed), until
// 2s pass with none, with their headers. The first poll gets 10s: on a
// busy machine, finding the topic and its first fetch take longer.
func dlqRecords(t *testing.T, c *broker.Cluster, topic string) []*kgo.Record {
	t.Helper()
	rd, err := kafka.Cluster{Brokers: c.Addrs()}.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []*kgo.Record
	for wait := 10 * time.Second; ; wait = 2 * time.Second {
		pctx, cancel := context.WithTimeout(ctx(t), wait)
		fs := rd.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			return out
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// byReason counts dead letters by segmerge.reason, and fails t if a
// header is longer than 1 KiB.
func byReason(t *testing.T, dead []*kgo.Record) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range dead {
		n[header(r, consumer.HeaderReason)]++
		for _, h := range r.Headers {
			if len(h.Value) > 1<<10 {
				t.Fatalf("dead letter %s: header %s is %d bytes", header(r, consumer.HeaderSource), h.Key, len(h.Value))
			}
		}
	}
	return n
}

// Records claiming the most segments a batch may have, thousands of them,
// are charged for what they claim: past the budget they are dead-lettered
// as over-budget instead of held, the few held are dead-lettered as
// incomplete once the good batches pass them, every good batch is written,
// and no header or log line runs long.
func TestHostileClaimsAreRefused(t *testing.T) {
	c := cluster(t, "")
	const topic, parts, segs = "claims", 4, 4
	w := rawWriter(t, c, topic, parts)
	log := goodBatches(t, w, topic, parts, 0, 100, segs, nil)
	const hostile = 3000
	var recs []*kgo.Record
	for i := range int64(hostile) {
		v := fmt.Sprintf(`{"batch_id":%d,"segment_id":0,"segments":65536,"data":[1]}`, 100+i)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)})
	}
	if err := w.ProduceSync(ctx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	log = goodBatches(t, w, topic, parts, 100+hostile, 200+hostile, segs, log)
	input := filepath.Join(t.TempDir(), "input.jsonl")
	os.WriteFile(input, log, 0o644)
	var logged lineLog
	out, st := consume(t, c, func(cfg *consumer.Config) {
		cfg.Topic, cfg.Segments, cfg.Memory, cfg.Log = topic, segs, consumer.MinMemory, logged.logger()
	})
	if rep := verifyFile(t, input, out); rep.Batches != 200 {
		t.Fatalf("%d good batches written, want 200", rep.Batches)
	}
	dead := dlqRecords(t, c, topic+".dlq")
	n := byReason(t, dead)
	if len(dead) != hostile || n[assemble.ReasonOverBudget] == 0 || n[assemble.ReasonOverBudget]+n[assemble.ReasonIncomplete] != hostile {
		t.Fatalf("%d dead letters by reason %v (stats %+v): want all %d hostile records, over budget or incomplete", len(dead), n, st, hostile)
	}
	if l := logged.longest(); l > 2<<10 {
		t.Fatalf("a log line of %d bytes", l)
	}
	t.Logf("dead letters by reason: %v", n)
}

// One record far ahead on a partition does not block it: the good records
// after it show it to be the outlier, it is dead-lettered as far-ahead, and
// every good batch is written and committed, that partition's too.
func TestFarAheadRecordDoesNotBlockItsPartition(t *testing.T) {
	c := cluster(t, "")
	const topic, parts, segs = "gap", 4, 4
	w := rawWriter(t, c, topic, parts)
	log := goodBatches(t, w, topic, parts, 0, 10, segs, nil)
	far := fmt.Sprintf(`{"batch_id":%d,"segment_id":3,"segments":4,"data":[1]}`, int64(math.MaxInt64))
	if err := w.ProduceSync(ctx(t), &kgo.Record{Topic: topic, Partition: 3, Value: []byte(far)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	log = goodBatches(t, w, topic, parts, 10, 50, segs, log)
	input := filepath.Join(t.TempDir(), "input.jsonl")
	os.WriteFile(input, log, 0o644)
	out, st := consume(t, c, func(cfg *consumer.Config) {
		cfg.Topic, cfg.Group, cfg.Segments = topic, "gap", segs
	})
	if rep := verifyFile(t, input, out); rep.Batches != 50 {
		t.Fatalf("%d good batches written of 50 (stats %+v)", rep.Batches, st)
	}
	dead := dlqRecords(t, c, topic+".dlq")
	if len(dead) != 1 || header(dead[0], consumer.HeaderReason) != assemble.ReasonFarAhead || string(dead[0].Value) != far {
		reasons := make([]string, len(dead))
		for i, d := range dead {
			reasons[i] = header(d, consumer.HeaderReason)
		}
		t.Fatalf("dead letters %d, reasons %.200v: want the far record alone, as far-ahead", len(dead), reasons)
	}
	adm := kadm.NewClient(rawWriter(t, c, topic, parts))
	ends, _ := kafka.EndOffsets(ctx(t), adm, topic)
	committed, _ := kafka.Committed(ctx(t), adm, "gap", topic, nil)
	if committed[3] != ends[3] {
		t.Fatalf("partition 3 committed %d of %d", committed[3], ends[3])
	}
}

// A record too large for the dead-letter topic never stops the consumer:
// the topic is made to take what the input takes (its max.message.bytes),
// and where it was made smaller by hand a truncated copy goes, its headers
// saying so.
func TestDeadLetterLargerThanTheTopicTakes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dlqLimit  int // 0: segmerge makes the dead-letter topic
		truncated bool
	}{{"dead-letter topic made by segmerge", 0, false}, {"dead-letter topic made smaller by hand", 1 << 20, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster(t, "")
			const topic, parts = "large", 2
			cl, err := kafka.Cluster{Brokers: c.Addrs()}.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(16<<20))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			if _, err := adm.CreateTopic(ctx(t), parts, -1, limit(16<<20), topic); err != nil {
				t.Fatal(err)
			}
			if tc.dlqLimit > 0 {
				if _, err := adm.CreateTopic(ctx(t), parts, -1, limit(tc.dlqLimit), topic+".dlq"); err != nil {
					t.Fatal(err)
				}
			}
			log := goodBatches(t, cl, topic, parts, 0, 5, 2, nil)
			big := bytes.Repeat([]byte("not json "), 5<<20/9)
			if err := cl.ProduceSync(ctx(t), &kgo.Record{Topic: topic, Partition: 1, Value: big}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			log = goodBatches(t, cl, topic, parts, 5, 10, 2, log)
			input := filepath.Join(t.TempDir(), "input.jsonl")
			os.WriteFile(input, log, 0o644)
			out, _ := consume(t, c, func(cfg *consumer.Config) {
				cfg.Topic, cfg.Segments, cfg.OutputTopic = topic, 2, "large-out"
			})
			verifyFile(t, input, out)
			dead := dlqRecords(t, c, topic+".dlq")
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want the large record", len(dead))
			}
			d := dead[0]
			switch {
			case !tc.truncated && !bytes.Equal(d.Value, big):
				t.Fatalf("dead letter of %d bytes, want the record whole (%d)", len(d.Value), len(big))
			case tc.truncated && (header(d, consumer.HeaderTruncated) != "true" || header(d, consumer.HeaderSize) != fmt.Sprint(len(big)) ||
				len(d.Value) >= tc.dlqLimit || !bytes.HasPrefix(big, d.Value)):
				t.Fatalf("dead letter of %d bytes, headers truncated=%q size=%q: want a prefix under %d with the headers", len(d.Value), header(d, consumer.HeaderTruncated), header(d, consumer.HeaderSize), tc.dlqLimit)
			}
		})
	}
}

// limit is the config of a topic whose max.message.bytes is n.
func limit(n int) map[string]*string {
	v := fmt.Sprint(n)
	return map[string]*string{"max.message.bytes": &v}
}

// Merged batches go to the output topic in records that fit it, however
// large the input's limit and whatever the output topic's own: a client
// bound by the input's limit packs several output records into a batch
// the output topic refuses (MESSAGE_TOO_LARGE). Batches of 10 segments of
// 60,000 integers (about 7 MiB merged) from a topic that takes 16 MiB,
// into an output topic made by segmerge (Kafka's default, 1 MiB) and one
// made by hand at 128 KiB.
func TestOutputRecordsFitTheOutputTopic(t *testing.T) {
	c := cluster(t, "")
	const topic, parts = "wide", 10
	cl, err := kafka.Cluster{Brokers: c.Addrs()}.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for name, n := range map[string]int{topic: 16 << 20, "narrow-out": 128 << 10} {
		if _, err := adm.CreateTopic(ctx(t), parts, -1, limit(n), name); err != nil {
			t.Fatal(err)
		}
	}
	var log []byte
	for b := range int64(3) {
		var recs []*kgo.Record
		for s := range int64(parts) {
			seg := wire.Segment{BatchID: b, SegmentID: s, Segments: parts, Last: true, Data: make([]int64, 60000)}
			for i := range seg.Data {
				seg.Data[i] = int64(i)*1000 + s
			}
			v := wire.AppendSegment(nil, &seg)
			log = append(append(log, v...), '\n')
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(s), Value: v})
		}
		if err := cl.ProduceSync(ctx(t), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	input := filepath.Join(t.TempDir(), "input.jsonl")
	os.WriteFile(input, log, 0o644)
	for _, out := range []string{"wide-out", "narrow-out"} {
		for _, mode := range []string{consumer.ModeSimple, consumer.ModeScalable} {
			t.Run(out+"/"+mode, func(t *testing.T) {
				group := out + "-" + mode
				file, _ := consume(t, c, func(cfg *consumer.Config) {
					cfg.Topic, cfg.Group, cfg.Mode, cfg.OutputTopic = topic, group, mode, group
					if out == "narrow-out" {
						cfg.OutputTopic = out
					}
				})
				verifyFile(t, input, file)
				if out == "narrow-out" && mode == consumer.ModeScalable {
					return // the simple run filled it
				}
				name := group
				if out == "narrow-out" {
					name = out
				}
				verifyTopic(t, c, input, name, 3)
			})
		}
	}
}

// A batch sent again whole after it was written and committed (a replay)
// goes to the dead letters as replayed, and every sink holds it once.
func TestReplayedBatchIsRefusedBySinks(t *testing.T) {
	c := cluster(t, "")
	const topic, parts, segs = "replay", 3, 3
	w := rawWriter(t, c, topic, parts)
	log := goodBatches(t, w, topic, parts, 0, 10, segs, nil)
	input := filepath.Join(t.TempDir(), "input.jsonl")
	os.WriteFile(input, log, 0o644)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	run := func() {
		f, _, err := sink.Open(out, sink.JSONL, false)
		if err != nil {
			t.Fatal(err)
		}
		cfg := consumer.DefaultConfig()
		cfg.Brokers, cfg.Topic, cfg.Group, cfg.Segments, cfg.Sink = c.Addrs(), topic, "replay", segs, f
		cfg.FromBeginning, cfg.ExitAtEnd, cfg.OutputTopic, cfg.CommitInterval = true, true, "replay-out", 50*time.Millisecond
		if _, err := consumer.Run(ctx(t), cfg); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run()
	goodBatches(t, w, topic, parts, 5, 6, segs, nil) // batch 5 again, whole
	log = goodBatches(t, w, topic, parts, 10, 15, segs, log)
	os.WriteFile(input, log, 0o644)
	run()
	verifyFile(t, input, out)
	verifyTopic(t, c, input, "replay-out", 15)
	dead := dlqRecords(t, c, topic+".dlq")
	if n := byReason(t, dead); n[assemble.ReasonReplayed] != segs || len(dead) != segs {
		t.Fatalf("dead letters %v, want the %d records of batch 5 as replayed", n, segs)
	}
}

// lineLog keeps what a logger writes, to measure its lines.
type lineLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lineLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// String is what was logged.
func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// longest is the length of the longest line logged.
func (l *lineLog) longest() int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		n = max(n, len(line))
	}
	return n
}

// A bad record that lies beyond a batch still being assembled (which holds
// its partition's commit below it) is dead-lettered once across restarts:
// its dead letter commits with its offset, not before, so the run that
// reads it again does not send it again.
func TestDeadLetterOnceAcrossRestarts(t *testing.T) {
	c := cluster(t, "")
	const topic, parts = "once", 2
	w := rawWriter(t, c, topic, parts)
	write := func(p int32, v string) {
		if err := w.ProduceSync(ctx(t), &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	write(0, `{"batch_id":0,"segment_id":0,"segments":2,"data":[1]}`)
	write(1, `{"batch_id":0,"segment_id":1,"segments":2,"data":[2]}`)
	write(0, `{"batch_id":1,"segment_id":0,"segments":2,"data":[3]}`)
	write(0, `not json`) // beyond batch 1, which waits for its segment 1
	run := func() {
		consume(t, c, func(cfg *consumer.Config) { cfg.Topic, cfg.Group, cfg.Segments = topic, "once", 2 })
	}
	run()
	write(1, `{"batch_id":1,"segment_id":1,"segments":2,"data":[4]}`)
	run()
	dead := dlqRecords(t, c, topic+".dlq")
	if len(dead) != 1 || string(dead[0].Value) != "not json" {
		t.Fatalf("%d dead letters, want the bad record once", len(dead))
	}
}
