package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmerge/segmerge/gen"
	"github.com/segmerge/segmerge/verify"
)

// TestHugeBatchesExactlyOnceAcrossCrashes: batches far larger than the
// consumer's memory are merged as they stream in, written to a file (one
// growing line each) and to a transactional output topic (a transaction of
// their own). The consumer is SIGKILLed three times in the middle of a
// batch's line, each time further on, and restarted; a last run goes to the
// end. The file must hold each batch once — the torn line cut, the batches
// already whole skipped — and a read_committed read of the topic too: the
// aborted transaction of a killed batch leaves nothing visible.
func TestHugeBatchesExactlyOnceAcrossCrashes(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	const (
		batches = 4
		segLen  = 300_000
	)
	dir := t.TempDir()
	_, addr := brokerProc(t, filepath.Join(dir, "data"))
	p := start(t, nil, "produce", "-b", addr, "-t", "big", "--batches", "4", "--seed", "5",
		"--min-len", "300000", "--max-len", "300000", "--min-value", "0", "--max-value", "1000000000",
		"--chunk-size", "10000", "-q")
	if code := p.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("produce: exit %d\n%s", code, p.stderr.String())
	}
	out := filepath.Join(dir, "out.jsonl")
	args := []string{"consume", "-b", addr, "-t", "big", "-g", "big", "--mode", "concurrent", "--from-beginning",
		"--out-file", out, "--output-topic", "big-merged", "--memory", "64MiB", "--commit-interval", "30ms", "--session-timeout", "6s"}
	line := int64(10 * segLen * 10) // about 10 bytes an integer in 0..1e9
	for _, at := range []float64{0.3, 1.5, 2.5} {
		cons := start(t, nil, args...)
		waitSize(t, out, int64(at*float64(line)), cons)
		// Killed mid-line: the file ends in a torn line.
		cons.kill(t)
		b, _ := os.ReadFile(out)
		if len(b) == 0 || b[len(b)-1] == '\n' {
			t.Logf("kill at %.1f lines: the file ended on a whole line (%d bytes); the kill came between batches", at, len(b))
		}
	}
	last := start(t, nil, append(args, "-e")...)
	if code := last.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("final consume -e: exit %d\n%s", code, last.stderr.String())
	}
	if !strings.Contains(last.stderr.String(), "merging a large batch as it arrives") {
		t.Fatalf("the final run streamed no batch: the test did not test streaming\n%s", last.stderr.String())
	}
	want := &verify.Generated{Spec: gen.Spec{Segments: 10, MinLen: segLen, MaxLen: segLen, MinValue: 0, MaxValue: 1e9, Seed: 5}, Batches: batches}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range []verify.Config{
		{Generated: want, OutFile: out},
		{Generated: want, Brokers: strings.Split(addr, ","), Topic: "big-merged"},
	} {
		rep, err := verify.Run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Batches != batches {
			t.Fatalf("after 3 kills mid-batch, %s+%s: %s %v", c.OutFile, c.Topic, rep.Summary(), rep.Problems)
		}
	}
}

// waitSize waits until path has at least n bytes.
func waitSize(t *testing.T, path string, n int64, p *proc) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= n {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%v ended before %s reached %d bytes\n%s", p.cmd.Args[1:3], path, n, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %d bytes in 90s\n%s", path, n, p.stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
