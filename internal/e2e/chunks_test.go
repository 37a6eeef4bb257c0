package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/wire"
)

// chunk is one input record of a hand-made topic.
type chunk struct {
	batch, seg, chunk int64
	last              bool
	data              []int64
}

// chunked cuts segment seg of batch into chunks of the given sizes (the
// values ascend across them); a size of 0 makes an empty chunk.
func chunked(batch, seg int64, sizes ...int) []chunk {
	var out []chunk
	v := seg
	for i, n := range sizes {
		d := make([]int64, n)
		for j := range d {
			d[j] = v
			v += 10
		}
		out = append(out, chunk{batch, seg, int64(i), i == len(sizes)-1, d})
	}
	return out
}

// many returns n sizes of size each.
func many(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// roundRobin orders the chunks of several segments as the producer does:
// chunk 0 of each, then chunk 1, ...
func roundRobin(segs ...[]chunk) []chunk {
	var out []chunk
	for i := 0; ; i++ {
		any := false
		for _, s := range segs {
			if i < len(s) {
				out = append(out, s[i])
				any = true
			}
		}
		if !any {
			return out
		}
	}
}

// writeChunks writes the records in order, segment s on partition s mod 10
// (segment layout) or batch b on partition b mod 10 (batch layout).
func writeChunks(t *testing.T, c *broker.Cluster, topic string, batchLayout bool, recs []chunk) {
	t.Helper()
	rawWriter(t, c, topic, 10) // creates the topic
	// Small producer batches, so that a fetch brings part of a segment
	// (Kafka returns at least one whole producer batch per partition).
	cl, err := kafka.Cluster{Brokers: c.Addrs()}.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for _, r := range recs {
		seg := wire.Segment{BatchID: r.batch, SegmentID: r.seg, Chunk: r.chunk, Last: r.last, Data: r.data}
		p := int32(r.seg % 10)
		if batchLayout {
			p = int32(r.batch % 10)
		}
		rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: wire.AppendSegment(nil, &seg)})
	}
	if err := cl.ProduceSync(ctx(t), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// wantLines is the JSONL the consumer must write for the batches with every
// chunk in recs (those in broken are left out).
func wantLines(recs []chunk, broken ...int64) string {
	byBatch := map[int64][]int64{}
	var ids []int64
	for _, r := range recs {
		if slices.Contains(broken, r.batch) {
			continue
		}
		if _, ok := byBatch[r.batch]; !ok {
			ids = append(ids, r.batch)
		}
		byBatch[r.batch] = append(byBatch[r.batch], r.data...)
	}
	slices.Sort(ids)
	var sb strings.Builder
	for _, id := range ids {
		d := byBatch[id]
		slices.Sort(d)
		sb.Write(wire.AppendOutputEnd(wire.AppendInts(wire.AppendOutputStart(nil, id), d, true)))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// The chunk edge cases, each merged with the default memory (batches mostly
// held whole) and the least memory (a batch past about 1 MiB held streams),
// in the segment and the batch layout: the output is exact, and with the
// least memory streaming really happened.
func TestChunkEdgeCases(t *testing.T) {
	seg := func(b int64) [][]chunk {
		// Segment 0 is one chunk, the others many; segment 9 ends with
		// an empty chunk.
		out := [][]chunk{chunked(b, 0, 1000)}
		for s := int64(1); s < 9; s++ {
			out = append(out, chunked(b, s, many(60, 1000)...))
		}
		return append(out, chunked(b, 9, append(many(59, 1000), 0)...))
	}
	cases := []struct {
		name        string
		batchLayout bool
		recs        []chunk
	}{
		{"one-chunk-and-many,empty-last/segment-layout", false, append(roundRobin(seg(0)...), roundRobin(seg(1)...)...)},
		{"one-chunk-and-many,empty-last/batch-layout", true, append(roundRobin(seg(0)...), roundRobin(seg(1)...)...)},
		// Segment 3's chunks come in one run, between the other
		// segments' chunks, in the partition the batch shares.
		{"one-segment-between-others/batch-layout", true, func() []chunk {
			s := seg(2)
			rest := roundRobin(append(s[:3:3], s[4:]...)...)
			return slices.Concat(rest[:100], s[3], rest[100:])
		}()},
	}
	c := cluster(t, "")
	for i, tc := range cases {
		topic := fmt.Sprintf("chunks-%d", i)
		writeChunks(t, c, topic, tc.batchLayout, tc.recs)
		want := wantLines(tc.recs)
		for _, memory := range []int64{consumer.DefaultMemory, consumer.MinMemory} {
			for _, mode := range []string{consumer.ModeSimple, consumer.ModeConcurrent} {
				if memory == consumer.DefaultMemory && mode != consumer.ModeSimple {
					continue // the modes' held paths are compared elsewhere
				}
				t.Run(fmt.Sprintf("%s/%s/memory=%s", tc.name, mode, fmt.Sprintf("%dMiB", memory>>20)), func(t *testing.T) {
					out, st := consume(t, c, func(cfg *consumer.Config) {
						cfg.Topic, cfg.Group, cfg.Mode, cfg.Memory = topic, fmt.Sprintf("g-%s-%d", mode, memory), mode, memory
					})
					got, _ := os.ReadFile(out)
					if string(got) != want {
						t.Fatalf("output differs: %d bytes, want %d (%d batches written, stats %+v)", len(got), len(want), st.Batches, st)
					}
					if memory == consumer.MinMemory && st.Streamed == 0 {
						t.Fatalf("%d batches streamed with --memory %s", st.Streamed, fmt.Sprintf("%dMiB", memory>>20))
					}
				})
			}
		}
	}
}

// A chunk missing in the middle of a segment makes its batch incomplete:
// every record of the batch goes to the dead-letter topic naming the
// segment, the batches around it are written, and nothing hangs — whether
// the batch was held whole or found broken while streaming (then what was
// written of it is undone: cut from the file, aborted from the topic).
func TestMissingMiddleChunk(t *testing.T) {
	c := cluster(t, "")
	batch := func(b int64, lose bool) []chunk {
		var segs [][]chunk
		for s := range int64(10) {
			// More than one fetch of a partition holds (64 KiB at
			// the least memory), so the batch streams before it is complete.
			cs := chunked(b, s, many(60, 1000)...)
			if lose && s == 3 {
				cs = slices.Delete(cs, 30, 31)
			}
			segs = append(segs, cs)
		}
		return roundRobin(segs...)
	}
	recs := slices.Concat(batch(0, false), batch(1, true), batch(2, false))
	writeChunks(t, c, "gap", false, recs)
	want := wantLines(recs, 1)
	lost := len(batch(1, true))
	for _, memory := range []int64{consumer.DefaultMemory, consumer.MinMemory} {
		for _, mode := range []string{consumer.ModeSimple, consumer.ModeConcurrent} {
			for _, topicOut := range []bool{false, true} {
				name := fmt.Sprintf("%s/memory=%s/output-topic=%v", mode, fmt.Sprintf("%dMiB", memory>>20), topicOut)
				t.Run(name, func(t *testing.T) {
					group := "gap-" + strings.ReplaceAll(name, "/", "-")
					out, st := consume(t, c, func(cfg *consumer.Config) {
						cfg.Topic, cfg.Group, cfg.Mode, cfg.Memory = "gap", group, mode, memory
						if topicOut {
							cfg.OutputTopic = "gap-out-" + group
						}
					})
					got, _ := os.ReadFile(out)
					if string(got) != want {
						t.Fatalf("output: %d bytes, want %d; stats %+v", len(got), len(want), st)
					}
					if memory < consumer.DefaultMemory && st.Streamed == 0 {
						t.Fatal("nothing streamed: the test did not test the streaming path")
					}
					// Each consumer group dead-letters on its own: count
					// this group's, each record of the batch once.
					seen := map[string]int{}
					for _, d := range deadLetters(t, c.Addrs(), "gap.dlq", 0) {
						if d.group != group {
							continue
						}
						if d.reason != "incomplete-batch" || !strings.Contains(d.err, "without segments [3]") {
							t.Fatalf("dead letter says %s: %q, want incomplete-batch naming segment 3", d.reason, d.err)
						}
						seen[d.source]++
					}
					for src, n := range seen {
						if n != 1 {
							t.Fatalf("record %s dead-lettered %d times", src, n)
						}
					}
					if len(seen) != lost {
						t.Fatalf("%d records of the broken batch dead-lettered, want %d; stats %+v", len(seen), lost, st)
					}
				})
			}
		}
	}
}
