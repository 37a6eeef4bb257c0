package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmerge/segmerge/merge"
	"github.com/segmerge/segmerge/verify"
	"github.com/segmerge/segmerge/wire"
)

// bigBatches makes batches of about 150 KB of input log, 10 segments of
// 2,000 to 4,000 values in records of at most 1,000: a batch takes several
// writes to the log, so a kill can cut one short.
var bigBatches = []string{"--min-len", "2000", "--max-len", "4000", "--max-value", "1000000", "--chunk-size", "1000"}

// loggedBatches reads the input log at path: it returns the merged values of
// every batch complete in it (10 segments) and the ids of the batches that
// are not, in the order they end in the log. A last line without a newline
// is left out when it does not decode (a torn line); any other line that
// does not decode fails t, and so do a batch's lines that are not together.
func loggedBatches(t *testing.T, path string) (complete map[int64][]int64, incomplete []int64) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type seg struct {
		chunks [][]int64
		last   bool
	}
	batches := map[int64]*[10]seg{}
	var (
		dec   wire.Decoder
		s     wire.Segment
		order []int64
	)
	lines := bytes.SplitAfter(body, []byte("\n"))
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		if err := dec.Decode(bytes.TrimSuffix(line, []byte("\n")), &s); err != nil {
			if i == len(lines)-1 && !bytes.HasSuffix(line, []byte("\n")) {
				break // torn
			}
			t.Fatalf("%s line %d: %v: %.80q", path, i+1, err, line)
		}
		b := batches[s.BatchID]
		if b == nil {
			b = new([10]seg)
			batches[s.BatchID] = b
			order = append(order, s.BatchID)
		} else if order[len(order)-1] != s.BatchID {
			t.Fatalf("%s line %d: batch %d resumes after batch %d: a batch's lines are not together", path, i+1, s.BatchID, order[len(order)-1])
		}
		sg := &b[s.SegmentID]
		if int64(len(sg.chunks)) != s.Chunk || sg.last {
			t.Fatalf("%s line %d: batch %d segment %d chunk %d out of order", path, i+1, s.BatchID, s.SegmentID, s.Chunk)
		}
		sg.chunks = append(sg.chunks, slices.Clone(s.Data))
		sg.last = s.Last
	}
	complete = map[int64][]int64{}
next:
	for _, id := range order {
		var runs [][]int64
		for _, sg := range batches[id] {
			if !sg.last {
				incomplete = append(incomplete, id)
				continue next
			}
			runs = append(runs, slices.Concat(sg.chunks...))
		}
		complete[id] = merge.Merge(nil, runs...)
	}
	return complete, incomplete
}

// writeOutput writes batches as a JSON Lines output file at path, in
// ascending batch order, as the consumer would.
func writeOutput(t *testing.T, path string, batches map[int64][]int64) {
	t.Helper()
	var out []byte
	for _, id := range slices.Sorted(maps.Keys(batches)) {
		out = wire.AppendOutputStart(out, id)
		out = wire.AppendInts(out, batches[id], true)
		out = append(wire.AppendOutputEnd(out), '\n')
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A producer SIGKILLed mid-run leaves an input log of whole batches that
// verify takes, a torn last line aside; the next producer cuts that line
// and appends after it, and the log verifies whole again. The output
// verified against is the log's own batches, merged by the test: what is
// checked here is the log, not a consumer.
func TestInputLogAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	br, addr := brokerProc(t, filepath.Join(dir, "data"))
	defer br.interrupt(t)
	log := filepath.Join(dir, "input.jsonl")
	out := filepath.Join(dir, "out.jsonl")

	prod := start(t, nil, append([]string{"produce", "-b", addr, "--input-log", log, "--seed", "1"}, bigBatches...)...)
	waitLines(t, log, 300, prod)
	prod.kill(t)

	body, _ := os.ReadFile(log)
	if bytes.HasSuffix(body, []byte("\n")) {
		// The kill fell between two writes, as it mostly does: tear
		// the last line as a kill inside a write would have.
		t.Log("the kill left whole lines; adding a torn one")
		f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(`{"batch_id":1000000,"segment_id":0,"chunk":0,"last":false,"data":[1,2,`)
		f.Close()
	} else {
		t.Log("the kill tore the last line")
	}
	complete, incomplete := loggedBatches(t, log)
	// A kill inside the writes of one batch leaves that batch cut short;
	// every batch before it is whole.
	if len(incomplete) > 1 {
		t.Fatalf("batches %v are incomplete in the log of a killed producer: at most the last one may be", incomplete)
	}
	t.Logf("the killed producer logged %d whole batches, %d cut short", len(complete), len(incomplete))
	if len(complete) == 0 {
		t.Fatal("the killed producer logged no whole batch")
	}
	writeOutput(t, out, complete)
	code, stdout, stderr := run("verify", "--input-log", log, "--out-file", out)
	if code != 0 || !strings.Contains(stdout, "verify: OK") || !strings.Contains(stdout, "partial line") {
		t.Fatalf("verify of the killed producer's log: exit %d\n%s%s", code, stdout, stderr)
	}

	more := start(t, nil, append([]string{"produce", "-b", addr, "--input-log", log, "--batches", "5"}, bigBatches...)...)
	if code := more.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("produce after the kill: exit %d\n%s", code, more.stderr.String())
	}
	if !strings.Contains(more.stderr.String(), "torn line") {
		t.Errorf("the second producer did not say it cut a torn line:\n%s", more.stderr.String())
	}
	body, _ = os.ReadFile(log)
	if !bytes.HasSuffix(body, []byte("\n")) {
		t.Fatal("the log does not end in a newline after a clean run")
	}
	complete2, incomplete2 := loggedBatches(t, log) // every line decodes
	if len(complete2) != len(complete)+5 || !slices.Equal(incomplete2, incomplete) {
		t.Fatalf("after 5 more batches the log holds %d whole batches (%v cut short), want %d (%v)", len(complete2), incomplete2, len(complete)+5, incomplete)
	}
	writeOutput(t, out, complete2)
	code, stdout, stderr = run("verify", "--input-log", log, "--out-file", out)
	if code != 0 || !strings.Contains(stdout, "verify: OK") || strings.Contains(stdout, "partial line") {
		t.Fatalf("verify after the second producer: exit %d\n%s%s", code, stdout, stderr)
	}
}

// verify runs beside a producer that is appending to the input log: every
// read sees whole batches (the output holds the batches logged before the
// producer started, so all it may find is the new batches missing), never
// a line that does not decode, whenever it reads.
func TestVerifyBesideLiveProducer(t *testing.T) {
	dir := t.TempDir()
	br, addr := brokerProc(t, filepath.Join(dir, "data"))
	defer br.interrupt(t)
	log := filepath.Join(dir, "input.jsonl")
	out := filepath.Join(dir, "out.jsonl")

	first := start(t, nil, "produce", "-b", addr, "--input-log", log, "--batches", "20", "--seed", "2")
	if code := first.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("produce: exit %d\n%s", code, first.stderr.String())
	}
	before, _ := loggedBatches(t, log)
	writeOutput(t, out, before)
	lines0 := lines(t, log)

	// A batch of about 1 KB every millisecond or so, while verify reads.
	live := start(t, nil, "produce", "-b", addr, "--input-log", log, "--seed", "3", "--interval", "1ms")
	waitLines(t, log, lines0+1, live)
	ctx := context.Background()
	partial := 0
	const reads = 20
	for i := range reads {
		rep, err := verify.Run(ctx, verify.Config{InputLog: log, OutFile: out})
		if err != nil {
			t.Fatalf("read %d beside the producer: %v", i, err)
		}
		if rep.Batches != int64(len(before)) {
			t.Fatalf("read %d: %d batches verified, want the %d logged before: %s", i, rep.Batches, len(before), rep.Summary())
		}
		for _, p := range rep.Problems {
			if p.Batch < int64(len(before)) || p.Msg != "missing from the output" {
				t.Fatalf("read %d: batch %d: %s (%s)", i, p.Batch, p.Msg, rep.Summary())
			}
		}
		if strings.Contains(rep.Summary(), "partial line") {
			partial++
		}
	}
	t.Logf("%d reads beside the producer, %d of them ending in a partial line", reads, partial)
	if code := live.interrupt(t); code != 0 {
		t.Fatalf("live producer after Ctrl+C: exit %d\n%s", code, live.stderr.String())
	}
	all, incomplete := loggedBatches(t, log)
	if len(incomplete) > 0 {
		t.Fatalf("batches %v incomplete after a clean stop", incomplete)
	}
	writeOutput(t, out, all)
	if code, stdout, stderr := run("verify", "--input-log", log, "--out-file", out); code != 0 {
		t.Fatalf("verify after the producer stopped: exit %d\n%s%s", code, stdout, stderr)
	}
}
