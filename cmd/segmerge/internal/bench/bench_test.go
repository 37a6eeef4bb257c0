package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/gen"
	"github.com/segmerge/segmerge/sink"
)

// TestMain lets the test binary stand in for segmerge as a bench child when
// SEGMERGE_BENCH_FAKE is set: bench-fetch is the real Fetch, and consume
// writes the output SEGMERGE_BENCH_FAKE names instead of merging.
func TestMain(m *testing.M) {
	if out := os.Getenv("SEGMERGE_BENCH_FAKE"); out != "" {
		os.Exit(fakeChild(os.Args[1], os.Args[2:], out))
	}
	os.Exit(m.Run())
}

func fakeChild(cmd string, args []string, output string) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	brokers := fs.String("b", "", "")
	topic := fs.String("t", "", "")
	outFile := fs.String("out-file", "", "")
	stats := fs.String("stats-file", "", "")
	for _, skip := range []string{"g", "mode"} {
		fs.String(skip, "", "")
	}
	for _, skip := range []string{"e", "from-beginning", "overwrite", "q"} {
		fs.Bool(skip, false, "")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var r ChildReport
	switch cmd {
	case "bench-fetch":
		var err error
		if r, err = Fetch(context.Background(), strings.Split(*brokers, ","), nil, *topic); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "consume":
		if err := os.WriteFile(*outFile, []byte(output), 0o644); err != nil {
			return 1
		}
		r = ChildReport{Batches: 2, Integers: 3, Seconds: 0.01}
	default:
		return 2
	}
	if err := WriteChildReport(*stats, r); err != nil {
		return 1
	}
	return 0
}

// runFake runs the seed workload for two batches with a stand-in consumer
// that writes output instead of merging, on the embedded cluster.
func runFake(t *testing.T, output string) *Report {
	t.Helper()
	return runFakeOn(t, output, nil)
}

// runFakeOn is runFake on the cluster at brokers (-b); nil: the embedded one.
func runFakeOn(t *testing.T, output string, brokers []string) *Report {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEGMERGE_BENCH_FAKE", output)
	seed, _ := Lookup("seed")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Workloads: []Workload{seed}, Modes: []string{"simple"}, Batches: 2, Exe: exe, Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// The output of the seed workload's first n batches, merged: the bench's
// producer writes them from seed 1, and gen regenerates them.
func seedOutput(n int64) string {
	w, _ := Lookup("seed")
	spec := gen.Spec{Segments: w.Segments, MinLen: w.MinLen, MaxLen: w.MaxLen, MinValue: w.MinValue, MaxValue: w.MaxValue, Seed: 1}
	var out []byte
	var g gen.Segment
	for id := range n {
		var all []int64
		for s, l := range spec.Batch(id, nil) {
			g.Reset(spec, id, int64(s), l)
			all = g.Fill(all, l)
		}
		slices.Sort(all)
		out = sink.JSONL.AppendEnd(sink.JSONL.AppendValues(sink.JSONL.AppendStart(out, id), all, true))
	}
	return string(out)
}

// A consumer whose output is right makes a verified row and an OK report:
// the verification the wrong case fails is the producer's data, regenerated.
// The row carries the ceiling child's CPU and, with the embedded cluster
// (on Linux), this process's CPU while the consumer ran; with -b, none.
func TestRightOutputVerifies(t *testing.T) {
	rep := runFake(t, seedOutput(2))
	if !rep.OK() || len(rep.Rows) != 1 || !rep.Rows[0].Verified {
		t.Fatalf("right output not verified: %+v", rep.Rows)
	}
	row := rep.Rows[0]
	if row.CeilingCPUSeconds <= 0 {
		t.Fatalf("ceiling CPU %v s: the ceiling's child CPU is not in the row", row.CeilingCPUSeconds)
	}
	if selfCPU() > 0 && row.BrokerCPUSeconds <= 0 {
		t.Fatalf("broker CPU %v s with the embedded cluster: not in the row", row.BrokerCPUSeconds)
	}
	c, err := broker.Start(broker.Config{Listen: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep = runFakeOn(t, seedOutput(2), c.Addrs())
	if !rep.OK() || len(rep.Rows) != 1 || !rep.Rows[0].Verified {
		t.Fatalf("right output not verified with -b: %+v", rep.Rows)
	}
	if cpu := rep.Rows[0].BrokerCPUSeconds; cpu != 0 {
		t.Fatalf("broker CPU %v s with -b: this process's CPU is not the brokers'", cpu)
	}
}

// A consumer whose output is wrong makes a row that does not verify, and a
// report that is not OK, with the verifier's reason.
func TestWrongOutputDoesNotVerify(t *testing.T) {
	rep := runFake(t, `{"batch_id":0,"data":[1,2]}`+"\n"+`{"batch_id":1,"data":[3]}`+"\n")
	if rep.OK() || len(rep.Rows) != 1 || rep.Rows[0].Verified {
		t.Fatalf("wrong output verified: %+v", rep.Rows)
	}
	if !strings.Contains(rep.Rows[0].Problem, "verify: FAILED") {
		t.Fatalf("problem %q does not carry the verifier's summary", rep.Rows[0].Problem)
	}
	var table bytes.Buffer
	WriteTable(&table, rep)
	if !strings.Contains(table.String(), "NO") {
		t.Fatalf("table does not show the row unverified:\n%s", table.String())
	}
}

func TestOrderRunsCompanionsFirstOnce(t *testing.T) {
	var ws []Workload
	for _, n := range []string{"bulk", "huge", "huge-1m"} {
		w, ok := Lookup(n)
		if !ok {
			t.Fatalf("no workload %s", n)
		}
		ws = append(ws, w)
	}
	var got []string
	for _, w := range order(ws) {
		got = append(got, w.Name)
	}
	if strings.Join(got, " ") != "bulk huge-1m huge" {
		t.Fatalf("order %v", got)
	}
}

func TestChecks(t *testing.T) {
	huge, _ := Lookup("huge")
	bulk, _ := Lookup("bulk")
	rows := []Result{
		{Workload: "bulk", Mode: "concurrent", IntsPerSec: 30e6, Ratio: 0.4},
		{Workload: "bulk", Mode: "simple", IntsPerSec: 1e6, Ratio: 0.1}, // bulk's targets are for concurrent mode
		{Workload: "huge-1m", Mode: "concurrent", PeakRSS: 40 << 20},
		{Workload: "huge", Mode: "concurrent", PeakRSS: 42 << 20},
	}
	got := map[string]bool{}
	for _, c := range checks([]Workload{bulk, huge}, rows) {
		got[c.Workload+" "+c.Mode+" "+c.Target] = c.Met
	}
	want := map[string]bool{
		"bulk concurrent pipeline/ceiling >= 0.50":       false,
		"bulk concurrent ints/s >= 25.0M":                true,
		"huge concurrent peak RSS <= 64.0 MiB":           true,
		"huge concurrent peak RSS / companion's <= 1.10": true,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("checks %v\nwant %v", got, want)
	}
}

// scale's targets compare each process count's row with the one-process
// row of its mode: steady throughput at 2 and 3 processes, CPU an integer
// at 3.
func TestScaleChecks(t *testing.T) {
	scale, _ := Lookup("scale")
	rows := []Result{
		{Workload: "scale", Mode: "concurrent", Processes: 1, SteadyIntsPerSec: 20e6, CPUNsPerInt: 60},
		{Workload: "scale", Mode: "concurrent", Processes: 2, SteadyIntsPerSec: 15e6, CPUNsPerInt: 80},
		{Workload: "scale", Mode: "concurrent", Processes: 3, SteadyIntsPerSec: 17e6, CPUNsPerInt: 68},
		{Workload: "scale", Mode: "simple", Processes: 1, SteadyIntsPerSec: 10e6, CPUNsPerInt: 50},
		{Workload: "scale", Mode: "simple", Processes: 3, SteadyIntsPerSec: 9e6, CPUNsPerInt: 60},
	}
	got := map[string]string{}
	for _, c := range checks([]Workload{scale}, rows) {
		got[fmt.Sprintf("%s x%d %s", c.Mode, c.Processes, c.Target)] = fmt.Sprintf("%s %v", c.Shown, c.Met)
	}
	want := map[string]string{
		"concurrent x2 steady ints/s / 1 process's >= 0.80": "0.75 false",
		"concurrent x3 steady ints/s / 1 process's >= 0.80": "0.85 true",
		"concurrent x3 CPU/int / 1 process's <= 1.15":       "1.13 true",
		"simple x3 steady ints/s / 1 process's >= 0.80":     "0.90 true",
		"simple x3 CPU/int / 1 process's <= 1.15":           "1.20 false",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("checks %v\nwant %v", got, want)
	}
	var table bytes.Buffer
	WriteTable(&table, &Report{Targets: checks([]Workload{scale}, rows)})
	if !strings.Contains(table.String(), "concurrent, 3 processes") {
		t.Fatalf("the targets table does not name the process count:\n%s", table.String())
	}
}

func TestSI(t *testing.T) {
	for v, want := range map[float64]string{0: "0.00", 4.2: "4.20", 999.6: "1000", 1000: "1.00k", 27_100_000: "27.1M", 912_000: "912k", 3e9: "3.00G"} {
		if got := si(v); got != want {
			t.Errorf("si(%v) = %q, want %q", v, got, want)
		}
	}
}

// Of two runs of a pipeline the faster is the row, with both runs' times,
// unless one did not verify: that one is the row, whatever its speed.
func TestFaster(t *testing.T) {
	ok := func(s float64) Result { return Result{Seconds: s, Verified: true} }
	bad := Result{Seconds: 0.5, Problem: "missing batches"}
	for _, tc := range []struct {
		a, b Result
		want float64
		ok   bool
	}{
		{ok(2), ok(1), 1, true},
		{ok(1), ok(2), 1, true},
		{bad, ok(1), 0.5, false},
		{ok(0.1), bad, 0.5, false},
	} {
		got := faster(tc.a, tc.b)
		if got.Seconds != tc.want || got.Verified != tc.ok || len(got.Runs) != 2 || got.Runs[0] != tc.a.Seconds || got.Runs[1] != tc.b.Seconds {
			t.Errorf("faster(%v, %v) = %v (runs %v, verified %v)", tc.a.Seconds, tc.b.Seconds, got.Seconds, got.Runs, got.Verified)
		}
	}
}

// A child's run carries this process's own CPU while it ran (with the
// embedded cluster, the brokers serving it): CPU burnt here between the
// child's start and its end is counted, and none from before its start.
func TestChildCountsOwnCPU(t *testing.T) {
	if selfCPU() == 0 {
		t.Skip("this process's CPU is read on Linux only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEGMERGE_BENCH_FAKE", seedOutput(1))
	dir := t.TempDir()
	before := selfCPU()
	c, err := startChild(t.Context(), exe, filepath.Join(dir, "stats.json"), "consume", "-b", "127.0.0.1:1", "-t", "x", "--out-file", filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	const burn = 50 * time.Millisecond
	for start := selfCPU(); selfCPU()-start < burn; {
	}
	got, err := c.wait()
	if err != nil {
		t.Fatal(err)
	}
	if window := selfCPU() - before; got.self < burn || got.self > window {
		t.Fatalf("own CPU while the child ran: %v; burnt at least %v, and at most %v passed around it", got.self, burn, window)
	}
}
