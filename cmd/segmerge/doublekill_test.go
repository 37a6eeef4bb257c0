package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmerge/segmerge/cmd/segmerge/internal/bench"
)

// doubleKillRuns is how many runs TestTwoQuickKillsFinishExactlyOnce makes:
// SEGMERGE_DOUBLE_KILL_RUNS, or 2 (1 with -short). The figure is
// 20 runs: SEGMERGE_DOUBLE_KILL_RUNS=20 go test -run TwoQuickKills.
func doubleKillRuns(t *testing.T) int {
	if s := os.Getenv("SEGMERGE_DOUBLE_KILL_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SEGMERGE_DOUBLE_KILL_RUNS=%q: want a count", s)
		}
		return n
	}
	if testing.Short() {
		return 1
	}
	return 2
}

// A consumer SIGKILLed, restarted, SIGKILLed again within two seconds (while
// it joins) and restarted once more, under a producer that keeps writing,
// finishes exactly once: the last one takes every partition (the embedded
// broker can keep the member killed mid-join in the group with no session
// timer: internal/upstream/kfake-join-death; the consumer asks for a
// rebalance that drops it), and its peak RSS stays within --memory. Each
// run has its own broker.
func TestTwoQuickKillsFinishExactlyOnce(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	runs := doubleKillRuns(t)
	var passed atomic.Int64
	t.Run("runs", func(t *testing.T) {
		for i := range runs {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				twoQuickKills(t)
				passed.Add(1)
			})
		}
	})
	t.Logf("%d of %d double-kill runs finished exactly once", passed.Load(), runs)
}

func twoQuickKills(t *testing.T) {
	dir := t.TempDir()
	listen := freeListen(t)
	startBroker(t, listen, filepath.Join(dir, "data"))
	input, out, stats := filepath.Join(dir, "input.jsonl"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "stats.json")
	prod := start(t, nil, "produce", "-b", listen, "--interval", "10ms", "--input-log", input, "-q")
	args := []string{"consume", "-b", listen, "--from-beginning", "--out-file", out, "--session-timeout", "6s",
		"--commit-interval", "200ms", "--memory", "128MiB"}
	kill := func(p *proc) {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.wait(t, 10*time.Second)
	}
	first := start(t, nil, args...)
	time.Sleep(3 * time.Second)
	kill(first)
	second := start(t, nil, args...)
	time.Sleep(1500 * time.Millisecond)
	kill(second)
	started := time.Now()
	last := startBin(t, measured(t), nil, append(args, "--stats-file", stats)...)
	time.Sleep(2 * time.Second)
	if code := prod.interrupt(t); code != 0 {
		t.Fatalf("producer: exit %d\n%s", code, prod.stderr.String())
	}
	want := batchesIn(t, input)
	waitLines(t, out, want, last)
	took := time.Since(started)
	t.Logf("the last consumer wrote all %d batches %v after it started", want, took.Round(100*time.Millisecond))
	if took > 20*time.Second && !saysWhyItWaits(last.stderr.String()) {
		// Held up past a session timeout and a rebalance: by the member
		// killed mid-join, which the log must have said.
		t.Errorf("the last consumer waited %v without saying why:\n%.3000s", took.Round(time.Second), last.stderr.String())
	}
	if code := last.interrupt(t); code != 0 {
		t.Fatalf("last consumer: exit %d\n%s", code, last.stderr.String())
	}
	mustExit(t, start(t, nil, "verify", "--input-log", input, "--out-file", out), time.Minute, 0)
	var st bench.ChildReport
	b, _ := os.ReadFile(stats)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.PeakRSS > 128<<20 {
		t.Errorf("the last consumer's peak RSS %.1f MiB passed --memory 128MiB", float64(st.PeakRSS)/(1<<20))
	}
}

// saysWhyItWaits reports whether a consumer's log explains a wait for
// partitions: it held none yet, or only some, or another member held the
// ones it needs.
func saysWhyItWaits(log string) bool {
	for _, why := range []string{
		"no partition assigned yet",
		"holds only some of the topic's partitions",
		"another member holds partitions",
	} {
		if strings.Contains(log, why) {
			return true
		}
	}
	return false
}

// batchesIn counts the batches of a producer's input log: its lines over
// the segments per batch (10).
func batchesIn(t *testing.T, input string) int {
	t.Helper()
	n := lines(t, input)
	if n%10 != 0 {
		t.Fatalf("%s holds %d lines, not whole batches of 10", input, n)
	}
	return n / 10
}
