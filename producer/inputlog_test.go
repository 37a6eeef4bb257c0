package producer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/segmerge/segmerge/wire"
)

// OpenInputLog repairs what a producer killed as it wrote leaves: a torn
// last line is cut, a last line that lacks only its newline gets it, and
// whole lines stay; the next record then starts a line of its own.
func TestOpenInputLog(t *testing.T) {
	const (
		l1   = `{"batch_id":0,"segment_id":0,"data":[1,2]}`
		l2   = `{"batch_id":0,"segment_id":1,"data":[3]}`
		next = `{"batch_id":1,"segment_id":0,"data":[5]}`
		torn = `{"batch_id":0,"segment_id":1,"da`
	)
	long := `{"batch_id":0,"segment_id":1,"data":[` + string(bytes.Repeat([]byte("7,"), 100_000)) // torn past 64 KiB
	tests := []struct {
		name     string
		existing *string // nil: no file
		cut      int64
		want     string // after appending next and a newline
	}{
		{"no file", nil, 0, next + "\n"},
		{"empty", ptr(""), 0, next + "\n"},
		{"whole lines", ptr(l1 + "\n" + l2 + "\n"), 0, l1 + "\n" + l2 + "\n" + next + "\n"},
		{"torn last line", ptr(l1 + "\n" + torn), int64(len(torn)), l1 + "\n" + next + "\n"},
		{"only a torn line", ptr(torn), int64(len(torn)), next + "\n"},
		{"last line lacks the LF of its CRLF", ptr(l1 + "\r"), 0, l1 + "\r\n" + next + "\n"},
		{"last line lacks only its newline", ptr(l1 + "\n" + l2), 0, l1 + "\n" + l2 + "\n" + next + "\n"},
		{"long torn line", ptr(l1 + "\n" + long), int64(len(long)), l1 + "\n" + next + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "input.jsonl")
			if tt.existing != nil {
				if err := os.WriteFile(path, []byte(*tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, cut, err := OpenInputLog(path)
			if err != nil {
				t.Fatal(err)
			}
			if cut != tt.cut {
				t.Errorf("cut %d bytes, want %d", cut, tt.cut)
			}
			if _, err := f.WriteString(next + "\n"); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); string(got) != tt.want {
				t.Fatalf("log:\n%.200q\nwant:\n%.200q", got, tt.want)
			}
		})
	}
	t.Run("/dev/null", func(t *testing.T) {
		f, cut, err := OpenInputLog(os.DevNull)
		if err != nil || cut != 0 {
			t.Fatalf("cut %d, err %v", cut, err)
		}
		if _, err := f.WriteString(next + "\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
	})
}

func ptr(s string) *string { return &s }

// writes records every Write to the input log, and calls each in turn
// after the write it is given for.
type writes struct {
	mu    sync.Mutex
	all   [][]byte
	after map[int]func()
}

func (w *writes) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.all = append(w.all, bytes.Clone(b))
	fn := w.after[len(w.all)]
	w.mu.Unlock()
	if fn != nil {
		fn()
	}
	return len(b), nil
}

// parseLog decodes log, a whole number of lines of batches of segments
// segments each, and returns the records of each batch and the ids of the
// batches that lack a segment's last chunk. It fails t if a line does not
// decode or a batch's lines are not together.
func parseLog(t *testing.T, log []byte, segments int) (recs map[int64]int, partial []int64) {
	t.Helper()
	recs = map[int64]int{}
	ended := map[int64]map[int64]bool{} // batch: segments whose last chunk is there
	var (
		order []int64
		dec   wire.Decoder
		s     wire.Segment
	)
	lines := bytes.Split(bytes.TrimSuffix(log, []byte("\n")), []byte("\n"))
	for i, line := range lines {
		if err := dec.Decode(line, &s); err != nil {
			t.Fatalf("line %d: %v: %.80q", i+1, err, line)
		}
		if ended[s.BatchID] == nil {
			ended[s.BatchID] = map[int64]bool{}
			order = append(order, s.BatchID)
		} else if order[len(order)-1] != s.BatchID {
			t.Fatalf("line %d: batch %d resumes after batch %d: a batch's lines are not together", i+1, s.BatchID, order[len(order)-1])
		}
		recs[s.BatchID]++
		if s.Last {
			ended[s.BatchID][s.SegmentID] = true
		}
	}
	for _, id := range order {
		if len(ended[id]) != segments {
			partial = append(partial, id)
		}
	}
	return recs, partial
}

// The input log takes each batch whole, once it is acknowledged: every
// write to it ends with a whole batch (but for a batch over logSplit, whose
// writes end with whole lines), so whatever moment the process dies at,
// the log holds whole batches. A run stopped part way logs exactly the
// batches it wrote.
func TestRunLogsWholeBatches(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name      string
		batches   int64
		segments  int
		segLen    int // 0: the default lengths
		chunkSize int
		stopAfter int // cancel the run after this many writes to the log; 0: run to the end
	}{
		{"one record a segment", 200, 10, 0, 0, 0},
		{"chunked segments", 200, 4, 0, 3, 0},
		{"batches over logSplit", 3, 10, 30_000, 5_000, 0},
		{"stopped part way", 5000, 10, 0, 0, 3},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &writes{after: map[int]func(){tt.stopAfter: cancel}}
			cfg := DefaultConfig()
			cfg.Brokers, cfg.Topic, cfg.Partitions = c.ListenAddrs(), fmt.Sprintf("t%d", i), 3
			cfg.Batches, cfg.Segments, cfg.ChunkSize, cfg.Seed = tt.batches, tt.segments, tt.chunkSize, uint64(i)
			if tt.segLen > 0 {
				cfg.MinLen, cfg.MaxLen, cfg.MaxValue = tt.segLen, tt.segLen, 1e9
			}
			cfg.InputLog = w
			st, err := Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.stopAfter > 0 && st.Batches >= cfg.Batches {
				t.Fatalf("the run was not stopped part way: %d batches", st.Batches)
			}
			var log []byte
			for k, b := range w.all {
				if !bytes.HasSuffix(b, []byte("\n")) {
					t.Fatalf("write %d does not end a line: %.80q", k+1, b[max(0, len(b)-80):])
				}
				log = append(log, b...)
				if len(b) >= logSplit {
					continue // a batch written in parts
				}
				if _, partial := parseLog(t, log, tt.segments); len(partial) > 0 {
					t.Fatalf("write %d leaves batches %v partial", k+1, partial)
				}
			}
			ids, partial := parseLog(t, log, tt.segments)
			if len(partial) > 0 {
				t.Fatalf("batches %v are partial in the log", partial)
			}
			if int64(len(ids)) != st.Batches {
				t.Fatalf("%d batches logged, %d written", len(ids), st.Batches)
			}
			recs := 0
			for id, n := range ids {
				if id < st.FirstBatch || id >= st.FirstBatch+st.Batches {
					t.Fatalf("batch %d logged, ids %d.. written", id, st.FirstBatch)
				}
				recs += n
			}
			if int64(recs) != st.Records {
				t.Fatalf("%d records logged, %d written", recs, st.Records)
			}
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A write error ends the log and fails the run, saying so.
func TestRunFailsOnLogWriteError(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Batches, cfg.InputLog = c.ListenAddrs(), 100_000, failingWriter{}
	st, err := Run(context.Background(), cfg)
	if err == nil || err.Error() != "write input log: disk full" {
		t.Fatalf("Run: %v, want write input log: disk full", err)
	}
	if st.Batches == cfg.Batches {
		t.Errorf("the run wrote all %d batches after the log failed", st.Batches)
	}
}
