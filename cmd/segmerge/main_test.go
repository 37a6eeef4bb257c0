package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	bin    string // the segmerge binary under test (-race when the tests are)
	binDir string
)

// TestMain builds the binary the tests run. Tests that mostly wait on their
// processes (session timeouts, a paced producer, consumers killed and
// restarted) call t.Parallel and run -parallel at a time (GOMAXPROCS by
// default) after the others. Those whose memory is measured run alone, so
// a neighbour does not skew them; so do those that kill a broker and
// restart it on the same ports, for while it is down a broker of a
// parallel test may be given one of them (an ephemeral port) and take
// its clients.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "segmerge-bin-")
	if err != nil {
		panic(err)
	}
	bin, binDir = filepath.Join(dir, "segmerge"), dir
	build := []string{"build", "-o", bin}
	if raceEnabled {
		// The processes under test run with the race detector as well:
		// the crash tests are where a consumer's restarts run.
		build = append(build, "-race")
	}
	if out, err := exec.Command("go", append(build, ".")...).CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build: %v\n%s", err, out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	plainOnce sync.Once
	plainBin  string
	plainErr  error
)

// measured returns a segmerge binary built without the race detector, for
// a process whose memory a test measures: the detector's shadow memory
// would double its RSS or more, and --memory bounds segmerge, not the
// detector. Without -race it is bin.
func measured(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return bin
	}
	plainOnce.Do(func() {
		plainBin = filepath.Join(binDir, "segmerge-plain")
		out, err := exec.Command("go", "build", "-o", plainBin, ".").CombinedOutput()
		if err != nil {
			plainErr = fmt.Errorf("build without -race: %v\n%s", err, out)
		}
	})
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainBin
}

// proc is a segmerge process started by a test; it is killed (by PID) if the
// test ends first.
type proc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan error
}

// syncBuffer is a bytes.Buffer the process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, stdout *os.File, args ...string) *proc {
	t.Helper()
	return startBin(t, bin, stdout, args...)
}

// startBin starts exe (bin, or measured's) with args.
func startBin(t *testing.T, exe string, stdout *os.File, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(exe, args...), done: make(chan error, 1)}
	p.cmd.Stdout = stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// interrupt sends SIGINT, as Ctrl+C does, and returns the exit code.
func (p *proc) interrupt(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	return p.wait(t, 30*time.Second)
}

func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		if os.Getenv("SEGMERGE_TEST_DUMP") != "" {
			// Go prints every goroutine's stack on SIGQUIT: where
			// it hangs is then in the failure's output.
			p.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
			}
		}
		t.Fatalf("%v did not exit within %v; stderr:\n%s", p.cmd.Args, d, p.stderr.String())
		return -1
	}
}

// brokerProc starts `segmerge broker` on free ports and returns it with
// its bootstrap address, read from its stdout.
func brokerProc(t *testing.T, dataDir string) (*proc, string) {
	t.Helper()
	return brokerProcBin(t, bin, dataDir)
}

// brokerProcBin is brokerProc with exe (bin, or measured's).
func brokerProcBin(t *testing.T, exe, dataDir string) (*proc, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startBin(t, exe, w, "broker", "--listen", "127.0.0.1:0,127.0.0.1:0,127.0.0.1:0", "--data-dir", dataDir)
	w.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "bootstrap: "); ok {
			go func() { // keep draining so the broker never blocks on stdout
				for sc.Scan() {
				}
			}()
			return p, addr
		}
	}
	t.Fatalf("broker printed no bootstrap line; stderr:\n%s", p.stderr.String())
	return nil, ""
}

func lines(t *testing.T, path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

// The three-terminal walkthrough, with Ctrl+C in the middle: the producer
// and consumer stop cleanly (exit 0), the consumer commits what it wrote,
// and a second consumer in the same group writes exactly the rest.
func TestCtrlCStopsCleanlyAndResumes(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	dir := t.TempDir()
	br, addr := brokerProc(t, filepath.Join(dir, "data"))
	input := filepath.Join(dir, "input.jsonl")
	out1 := filepath.Join(dir, "out1.jsonl")
	out2 := filepath.Join(dir, "out2.jsonl")

	prod := start(t, nil, "produce", "-b", addr, "--interval", "2ms", "--input-log", input, "--seed", "3")
	cons := start(t, nil, "consume", "-b", addr, "--from-beginning", "--out-file", out1, "--commit-interval", "100ms", "-g", "walk")
	deadline := time.Now().Add(60 * time.Second)
	for lines(t, out1) < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("consumer wrote %d lines in 60s; stderr:\n%s\nproducer:\n%s", lines(t, out1), cons.stderr.String(), prod.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := cons.interrupt(t); code != 0 {
		t.Fatalf("consume after Ctrl+C: exit %d; stderr:\n%s", code, cons.stderr.String())
	}
	if code := prod.interrupt(t); code != 0 {
		t.Fatalf("produce after Ctrl+C: exit %d; stderr:\n%s", code, prod.stderr.String())
	}
	if !strings.Contains(prod.stderr.String(), "produced ") {
		t.Fatalf("producer printed no summary:\n%s", prod.stderr.String())
	}

	rest := start(t, nil, "consume", "-b", addr, "-e", "--out-file", out2, "-g", "walk")
	if code := rest.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("second consume: exit %d; stderr:\n%s", code, rest.stderr.String())
	}
	both := filepath.Join(dir, "both.jsonl")
	b1, _ := os.ReadFile(out1)
	b2, _ := os.ReadFile(out2)
	os.WriteFile(both, append(b1, b2...), 0o644)
	t.Logf("first run wrote %d batches, second %d", bytes.Count(b1, []byte("\n")), bytes.Count(b2, []byte("\n")))
	if len(b2) == 0 {
		t.Fatal("nothing left for the second run: the test did not stop the first mid-stream")
	}
	ver := start(t, nil, "verify", "--input-log", input, "--out-file", both)
	if code := ver.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, ver.stderr.String())
	}

	if code := br.interrupt(t); code != 0 {
		t.Fatalf("broker after Ctrl+C: exit %d; stderr:\n%s", code, br.stderr.String())
	}

	// A broker restarted on the same data dir serves the topic and the
	// group's commits: nothing written is delivered again, and a new
	// producer continues the batch ids.
	br, addr = brokerProc(t, filepath.Join(dir, "data"))
	out3 := filepath.Join(dir, "out3.jsonl")
	again := start(t, nil, "consume", "-b", addr, "-e", "--out-file", out3, "-g", "walk")
	if code := again.wait(t, 60*time.Second); code != 0 || lines(t, out3) != 0 {
		t.Fatalf("consume after broker restart: exit %d, %d batches re-delivered; stderr:\n%s", code, lines(t, out3), again.stderr.String())
	}
	more := start(t, nil, "produce", "-b", addr, "--batches", "5", "--input-log", input)
	if code := more.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("produce after restart: exit %d\n%s", code, more.stderr.String())
	}
	if !strings.Contains(more.stderr.String(), "continuing after the topic's highest batch id") {
		t.Fatalf("restarted producer did not continue the ids:\n%s", more.stderr.String())
	}
	again = start(t, nil, "consume", "-b", addr, "-e", "--out-file", out3, "-g", "walk")
	if code := again.wait(t, 60*time.Second); code != 0 || lines(t, out3) != 5 {
		t.Fatalf("consume of the new batches: exit %d, %d batches; stderr:\n%s", code, lines(t, out3), again.stderr.String())
	}
	b3, _ := os.ReadFile(out3)
	os.WriteFile(both, append(append(b1, b2...), b3...), 0o644)
	ver = start(t, nil, "verify", "--input-log", input, "--out-file", both)
	if code := ver.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("verify after restart: exit %d\n%s", code, ver.stderr.String())
	}
	br.interrupt(t)
}

// segmerge bench end to end, on a workload small enough for seconds: the
// real binary re-runs itself as the ceiling and the consumers, verifies each
// output, and reports figures that are all there. Not a timed test: it
// checks the figures exist, not how large they are.
func TestBench(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	out, err := os.CreateTemp(t.TempDir(), "bench-*.json")
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, out, "bench", "--workload", "seed,bulk,scale", "--batches", "20", "--mode", "simple,concurrent", "--json", "-q")
	// A bound for a hang, not a time to meet: the run takes about a minute
	// alone under -race, and more beside the package's other tests.
	if code := p.wait(t, 4*time.Minute); code != 0 {
		t.Fatalf("bench: exit %d; stderr:\n%s", code, p.stderr.String())
	}
	body, _ := os.ReadFile(out.Name())
	// The JSON names are the contract for machines; map them explicitly.
	var raw struct {
		Rows    []map[string]any `json:"rows"`
		Targets []map[string]any `json:"targets"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("bench --json printed no JSON: %v\n%s", err, body)
	}
	if len(raw.Rows) != 10 {
		t.Fatalf("%d rows, want seed and bulk in 2 modes, and scale with 1, 2 and 3 processes in 2 modes:\n%s", len(raw.Rows), body)
	}
	for i, r := range raw.Rows {
		num := func(k string) float64 {
			v, ok := r[k].(float64)
			if !ok || v <= 0 {
				t.Errorf("row %d (%v %v): %s = %v, want a positive figure", i, r["workload"], r["mode"], k, r[k])
			}
			return v
		}
		if num("batches") != 20 {
			t.Errorf("row %d: %v batches, want 20", i, r["batches"])
		}
		for _, k := range []string{"integers", "records", "bytes", "seconds", "batches_per_second", "integers_per_second",
			"mb_per_second", "peak_rss_bytes", "ceiling_mb_per_second", "pipeline_over_ceiling",
			"cpu_seconds", "cpu_ns_per_integer", "join_seconds", "steady_integers_per_second"} {
			num(k)
		}
		if want := float64(1); r["workload"] == "scale" {
			want = float64((i-4)%3 + 1) // rows 4.. are scale x1, x2, x3 per mode
			if r["processes"] != want {
				t.Errorf("row %d: %v processes, want %v", i, r["processes"], want)
			}
		} else if r["processes"] != want {
			t.Errorf("row %d: %v processes, want 1", i, r["processes"])
		}
		if r["verified"] != true {
			t.Errorf("row %d not verified: %v", i, r["problem"])
		}
		// A pipeline runs twice and the faster run is the row; a
		// scaled row runs once.
		runs, _ := r["pipeline_runs_seconds"].([]any)
		switch {
		case r["workload"] == "scale" && runs != nil:
			t.Errorf("row %d: scale with runs %v", i, runs)
		case r["workload"] != "scale" && (len(runs) != 2 || r["seconds"] != min(runs[0].(float64), runs[1].(float64))):
			t.Errorf("row %d: seconds %v, runs %v: want the faster of two", i, r["seconds"], runs)
		}
		if _, err := exec.LookPath("kcat"); err == nil {
			for _, k := range []string{"kcat_seconds", "kcat_mb_per_second", "pipeline_over_kcat"} {
				num(k) // kcat is a ceiling wherever it is installed
			}
		}
		if r["workload"] == "seed" && exec.Command("/usr/bin/python3", "-c", "import confluent_kafka").Run() == nil {
			for _, k := range []string{"original_seconds", "pipeline_over_original"} {
				num(k) // the original algorithm runs, and verifies, wherever librdkafka's Python client is installed
			}
		}
	}
	if len(raw.Targets) == 0 {
		t.Errorf("no targets in the report:\n%s", body)
	}
}

// bench --workload latency: per rate, a row for each sink (the follower,
// the file, the topic) with the quantiles the JSON contract names, in
// order, over every measured batch, and verified output.
func TestBenchLatency(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	out, err := os.CreateTemp(t.TempDir(), "bench-*.json")
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, out, "bench", "--workload", "latency", "--rates", "500", "--batches", "300", "--mode", "simple", "--json", "-q")
	if code := p.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("bench: exit %d; stderr:\n%s", code, p.stderr.String())
	}
	body, _ := os.ReadFile(out.Name())
	var raw struct {
		Latency []map[string]any `json:"latency"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("bench --json printed no JSON: %v\n%s", err, body)
	}
	var sinks []string
	for _, r := range raw.Latency {
		sinks = append(sinks, fmt.Sprint(r["sink"]))
		if r["workload"] != "latency" || r["rate"] != float64(500) || r["batches"] != float64(300) || r["verified"] != true {
			t.Errorf("row %v: want workload latency, rate 500, 300 batches, verified", r)
		}
		prev := 0.0
		for _, k := range []string{"p50_ms", "p99_ms", "p999_ms", "max_ms"} {
			v, ok := r[k].(float64)
			if !ok || v <= 0 || v < prev {
				t.Errorf("row %v: %s = %v, want a positive figure no less than the quantile before", r["sink"], k, r[k])
			}
			prev = v
		}
	}
	if strings.Join(sinks, ",") != "follower,file,topic" {
		t.Fatalf("sinks %v, want follower, file, topic:\n%s", sinks, body)
	}
}
