package main

import (
	"context"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/gen"
	"github.com/segmerge/segmerge/sink"
	"github.com/segmerge/segmerge/verify"
)

// TestHugeBatchHeapStaysUnderBudget merges one batch of 10 segments of
// 1,000,000 integers in records of 10,000 — about 100 MB of input, 80 MB
// decoded — with --memory 64MiB, and samples this process's heap while it
// does: the broker and the producer run as their own processes, so the heap
// here is the consumer's. The Go memory limit is set as the command sets it;
// GC runs at the test's GOGC 100, not the command's 400, so the heap tracks
// what is live more closely. The peak heap must stay under the budget's
// heap share, and the live heap the collector found under half of it; and
// the output must verify against the producer's data, regenerated from its
// seed (sorted, count and checksum).
func TestHugeBatchHeapStaysUnderBudget(t *testing.T) {
	const (
		memory = 64 << 20
		segLen = 1_000_000
	)
	_, addr := brokerProc(t, t.TempDir())
	p := start(t, nil, "produce", "-b", addr, "-t", "huge", "--batches", "1", "--seed", "11",
		"--min-len", "1000000", "--max-len", "1000000", "--min-value", "0", "--max-value", "1000000000",
		"--chunk-size", "10000", "-q")
	if code := p.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("produce: exit %d\n%s", code, p.stderr.String())
	}

	out := filepath.Join(t.TempDir(), "out.jsonl")
	f, err := sink.Create(out, sink.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := consumer.DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Sink = strings.Split(addr, ","), "huge", f
	cfg.FromBeginning, cfg.ExitAtEnd, cfg.Memory, cfg.Mode = true, true, memory, consumer.ModeConcurrent

	limit := consumer.GoMemoryLimit(memory)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
	runtime.GC()
	base := heapSample()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		wg         sync.WaitGroup
		stop       = make(chan struct{})
		peak, live uint64
		samples    int
	)
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			s := heapSample()
			peak, live = max(peak, s.heap), max(live, s.live)
			samples++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	st, err := consumer.Run(ctx, cfg)
	close(stop)
	wg.Wait()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("merged %d integers in %v (%d streamed); heap before %.1f MiB, peak %.1f MiB, peak live %.1f MiB over %d samples; heap share of the budget %.1f MiB",
		st.Integers, st.Elapsed.Round(time.Millisecond), st.Streamed, mib(base.heap), mib(peak), mib(live), samples, mib(uint64(limit)))
	if st.Streamed != 1 || st.Integers != 10*segLen {
		t.Fatalf("stats %+v: want the one batch streamed, %d integers", st, 10*segLen)
	}
	if peak > uint64(limit) {
		t.Errorf("peak heap %.1f MiB passed the budget's heap share %.1f MiB", mib(peak), mib(uint64(limit)))
	}
	if live > uint64(limit)/2 {
		t.Errorf("peak live heap %.1f MiB passed half the heap share (%.1f MiB): the collector is pinned at the limit", mib(live), mib(uint64(limit))/2)
	}

	rep, err := verify.Run(ctx, verify.Config{OutFile: out, Generated: &verify.Generated{
		Spec:    gen.Spec{Segments: 10, MinLen: segLen, MaxLen: segLen, MinValue: 0, MaxValue: 1e9, Seed: 11},
		Batches: 1,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Batches != 1 {
		t.Fatalf("%s %v", rep.Summary(), rep.Problems)
	}
}

type heap struct{ heap, live uint64 }

var heapMetrics = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"}, // live and not yet swept
	{Name: "/gc/heap/live:bytes"},                // live as the last GC marked it
}

func heapSample() heap {
	metrics.Read(heapMetrics)
	return heap{heapMetrics[0].Value.Uint64(), heapMetrics[1].Value.Uint64()}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// A consume sets the Go memory limit to its budget less the reserve, and
// the collector's percentage to gcPercent, unless GOGC is set: then the
// environment's stands.
func TestSetMemoryLimitLeavesAnExplicitGOGC(t *testing.T) {
	const memory, reserve = 1 << 30, 14 << 20
	prevLimit := debug.SetMemoryLimit(-1)
	prevPercent := debug.SetGCPercent(100)
	defer func() {
		debug.SetMemoryLimit(prevLimit)
		debug.SetGCPercent(prevPercent)
	}()

	t.Setenv("GOGC", "")
	setMemoryLimit(memory, reserve)
	if got := debug.SetMemoryLimit(-1); got != memory-reserve {
		t.Errorf("memory limit %d, want %d", got, memory-reserve)
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC unset: percentage %d, want %d", got, gcPercent)
	}

	t.Setenv("GOGC", "off")
	debug.SetGCPercent(-1) // as the runtime reads GOGC=off at start
	setMemoryLimit(memory, reserve)
	if got := debug.SetGCPercent(100); got != -1 {
		t.Errorf("GOGC=off: percentage %d, want -1 (off)", got)
	}
}
