package emit

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/sink"
)

// A streaming batch is merged as its chunks arrive: each Pump writes what
// the chunks so far allow and waits where a segment's next chunk is
// missing; once every chunk has come the line equals the batch merged
// whole. An aborted stream leaves nothing of the batch in the file.
func TestStreamMergesAsChunksArrive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const segs, chunks = 3, 6
	var want []int64
	data := make([][][]int64, segs) // segment, chunk
	for s := range segs {
		v := int64(0)
		for range chunks {
			var c []int64
			for range rng.IntN(5) {
				v += rng.Int64N(10)
				c = append(c, v)
			}
			data[s] = append(data[s], c)
			want = append(want, c...)
		}
	}
	slices.Sort(want)

	for _, abort := range []bool{false, true} {
		a := assemble.New(assemble.Config{Segments: segs, Partitions: segs, Whole: true, StreamAbove: 1})
		for p := range int32(segs) {
			a.Assign(p, assemble.Start{Next: 0})
		}
		off := int64(0)
		add := func(s, c int) {
			r := &assemble.Record{Partition: int32(s), Offset: off, BatchID: 0, SegmentID: int64(s), Chunk: int64(c), Last: c == chunks-1, Data: data[s][c]}
			off++
			if v, err := a.Add(r); v != assemble.Accepted {
				t.Fatalf("segment %d chunk %d: %v %v", s, c, v, err)
			}
		}
		for s := range segs {
			add(s, 0)
			a.Position(int32(s), off, false)
		}
		b := a.Next()
		if b == nil || !b.Streaming {
			t.Fatalf("batch 0 not released to stream: %+v", b)
		}
		path := filepath.Join(t.TempDir(), "out.jsonl")
		w, err := sink.Create(path, sink.JSONL)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		read := func() []byte {
			w.Flush(context.Background())
			b, _ := os.ReadFile(path)
			return b
		}
		var st Stream
		if err := st.Begin(w, b, a); err != nil {
			t.Fatal(err)
		}
		for c := 1; c < chunks; c++ {
			if done, err := st.Pump(); done || err != nil {
				t.Fatalf("chunk %d: done %v, err %v before the last chunks came", c, done, err)
			}
			for s := range segs {
				add(s, c)
			}
			if abort && c == chunks/2 {
				if err := st.Abort(); err != nil {
					t.Fatal(err)
				}
				if got := read(); len(got) != 0 {
					t.Fatalf("aborted stream left %q in the file", got)
				}
				break
			}
		}
		if abort {
			continue
		}
		if done, err := st.Pump(); !done || err != nil {
			t.Fatalf("every chunk in: done %v, err %v", done, err)
		}
		line := sink.JSONL.AppendEnd(sink.JSONL.AppendValues(sink.JSONL.AppendStart(nil, 0), want, true))
		if got := read(); !bytes.Equal(got, line) || st.Ints() != int64(len(want)) || st.Batch() != nil {
			t.Fatalf("streamed %q (%d ints), want %q", got, st.Ints(), line)
		}
	}
}
