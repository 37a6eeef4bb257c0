package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// freeListen returns three free 127.0.0.1 ports as a --listen value, so a
// broker can be restarted on the same addresses.
func freeListen(t *testing.T) string {
	t.Helper()
	var addrs []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		defer l.Close()
	}
	return strings.Join(addrs, ",")
}

func startBroker(t *testing.T, listen, dataDir string) *proc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, w, "broker", "--listen", listen, "--data-dir", dataDir, "--log-level", "warn")
	w.Close()
	buf := make([]byte, 4096)
	n, _ := r.Read(buf) // the first line says it listens
	if !strings.Contains(string(buf[:n]), "listening") {
		t.Fatalf("broker did not start: %q\n%s", buf[:n], p.stderr.String())
	}
	go func() { // drain
		for {
			if _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	return p
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

// kill sends SIGKILL, as a crash would, and waits for the process to end.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	p.wait(t, 30*time.Second)
}

func waitLines(t *testing.T, path string, n int, who ...*proc) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for lines(t, path) < n {
		if time.Now().After(deadline) {
			var logs []string
			for _, p := range who {
				logs = append(logs, fmt.Sprintf("%v:\n%s", p.cmd.Args[1:3], p.stderr.String()))
			}
			t.Fatalf("%s reached %d lines of %d in 90s\n%s", path, lines(t, path), n, strings.Join(logs, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The output file and the output topic are exactly once across crashes.
// Shaped like Kafka's transactions system test: a broker in its own process
// with a data dir, a producer writing 2,000 batches, and the consumer
// SIGKILLed three times while it works, each time after writing 20% more
// of the batches than at the kill before, and once more at the end, each
// time restarted. At the end verify must find every batch once in the file
// and once in a read_committed read of the output topic.
//
// With killBroker the broker is SIGKILLed too, mid-run, under a consumer
// that has a transaction open (and with no produce request in flight: see
// killBrokerUnder), and restarted on its data dir; that consumer must live
// through it (the restarted broker aborted its transaction, and usually
// fences it) and commit again before it is killed in turn.
func TestCrashesLeaveOutputExactlyOnce(t *testing.T) {
	// Not parallel: it restarts a broker on the ports it was killed on
	// (see TestMain).
	for _, tc := range []struct {
		mode       string
		killBroker bool
	}{{"simple", false}, {"concurrent", false}, {"simple", true}, {"concurrent", true}} {
		name := tc.mode
		if tc.killBroker {
			name += " with broker killed"
		}
		t.Run(name, func(t *testing.T) { crashRun(t, tc.mode, tc.killBroker) })
	}
}

func crashRun(t *testing.T, mode string, killBroker bool) {
	const total, step = 2000, 2000 / 5
	dir := t.TempDir()
	listen, data := freeListen(t), filepath.Join(dir, "data")
	brokers := strings.Split(listen, ",")
	var procs []*proc
	keep := func(p *proc) *proc { procs = append(procs, p); return p }
	t.Cleanup(func() {
		// A killed process never exits with the race detector's code:
		// read its reports.
		for _, p := range procs {
			if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
				t.Errorf("%v reported a data race:\n%s", p.cmd.Args[1:3], p.stderr.String())
			}
		}
		keepLogs(t, dir, procs)
	})
	br := keep(startBroker(t, listen, data))
	input := filepath.Join(dir, "input.jsonl")
	out := filepath.Join(dir, "out.jsonl")
	g := newGroupWatch(t, brokers, "crash", "segment-topic")

	// 2,000 batches in about 6s: the consumer restarts within that time,
	// so each run of it has batches still coming to work on. With a
	// broker kill, the first 1,200 come at half that pace, and the rest
	// once the broker is back (see killBrokerUnder): the broker is killed
	// after the consumer's second run wrote 800, and about 400 batches
	// (2.4s) still to come keep a transaction of it open to freeze in.
	produce := func(batches int, interval string) *proc {
		return keep(start(t, nil, "produce", "-b", listen, "--batches", fmt.Sprint(batches), "--interval", interval, "--input-log", input, "--seed", "11", "-q"))
	}
	first, interval := total, "3ms"
	if killBroker {
		first, interval = 1200, "6ms"
	}
	prod := produce(first, interval)
	// Bad records among the good ones: their dead letters must be exactly
	// once too. Not with the broker killed: a produce cut off by the kill
	// may or may not have landed, and the count would be a guess.
	bad := func() int { return 0 }
	if !killBroker {
		bad = badRecords(t, listen)
	}
	args := func(extra ...string) []string {
		return append([]string{"consume", "-b", listen, "--mode", mode, "-g", "crash", "--out-file", out,
			"--output-topic", "merged", "--session-timeout", "6s"}, extra...)
	}
	consume := func() *proc {
		// Not -q: killBrokerUnder reads its info lines.
		return keep(start(t, nil, args("--from-beginning", "--commit-interval", "30ms")...))
	}
	cons := consume()
	t0, at := time.Now(), 0
	for k := 1; k <= 3; k++ {
		// 20% more than at the last kill: lines are only appended past
		// the highest batch already in the file, so this consumer wrote
		// them.
		waitLines(t, out, at+step, cons, prod)
		if killBroker && k == 2 {
			br = killBrokerUnder(t, br, cons, prod, g, listen, data, keep)
			t.Logf("%v: the consumer lived through the broker's restart", time.Since(t0).Round(time.Millisecond))
			prod = produce(total-first, "3ms")
		}
		at = lines(t, out)
		t.Logf("%v: consumer kill %d, %d batches in the file", time.Since(t0).Round(time.Millisecond), k, at)
		cons.kill(t)
		g.evict()
		cons = consume()
	}
	if code := prod.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("produce: exit %d\n%s", code, prod.stderr.String())
	}
	nbad := bad()
	// One more crash, then a consumer that runs to the end; then check:
	// every batch exactly once, and every bad record's dead letter.
	cons.kill(t)
	g.evict()
	last := keep(start(t, nil, args("-e")...))
	if code := last.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("final consume -e: exit %d\n%s", code, last.stderr.String())
	}
	if n := lines(t, out); n != total {
		t.Fatalf("file holds %d lines, want %d\n%s", n, total, last.stderr.String())
	}
	ver := keep(start(t, nil, "verify", "--input-log", input, "--out-file", out))
	if code := ver.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("verify of the file: exit %d\n%s", code, ver.stderr.String())
	}
	ver = keep(start(t, nil, "verify", "--input-log", input, "-b", listen, "--output-topic", "merged"))
	if code := ver.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("verify of the output topic (read_committed): exit %d\n%s\n%s", code, ver.stderr.String(), dumpTopic(brokers, "merged"))
	}
	seen := map[string]int{}
	for _, r := range readTopic(t, listen, "segment-topic.dlq") {
		seen[string(r.Value)]++
	}
	for i := range nbad {
		if v := fmt.Sprintf("bad record %d", i); seen[v] != 1 {
			t.Fatalf("%q dead-lettered %d times (read_committed), want once; %d dead letters of %d bad records", v, seen[v], len(seen), nbad)
		}
	}
	if len(seen) != nbad || !killBroker && nbad == 0 {
		t.Fatalf("%d distinct dead letters, want the %d bad records (and some)", len(seen), nbad)
	}
	t.Logf("%d bad records among the batches, each dead-lettered once", nbad)
	if code := br.interrupt(t); code != 0 {
		t.Fatalf("broker after Ctrl+C: exit %d\n%s", code, br.stderr.String())
	}
}

// badRecords writes a record that is not JSON ("bad record N") to the
// input topic's partitions in turn, every 20ms, until the returned func is
// called; that returns how many it wrote.
func badRecords(t *testing.T, listen string) func() int {
	t.Helper()
	cl := rawClient(t, listen)
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			r := &kgo.Record{Topic: "segment-topic", Partition: int32(n % 10), Value: fmt.Appendf(nil, "bad record %d", n)}
			if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
				continue // the topic not yet made, or the broker down: try the next
			}
			n++
		}
	}()
	return func() int { close(stop); return <-done }
}

// killBrokerUnder SIGKILLs the broker under cons, restarts it on its data
// dir, and returns it once cons has lived through it and committed again.
//
// The kill lands inside a transaction of cons with records in it: the test
// waits until the output topic shows one open (a last stable offset below
// the high watermark), freezes cons there (SIGSTOP: to the broker, a long
// GC pause) and checks that it is still open. Then it lets prod finish, so
// that no produce request is in flight or buffered when the broker dies: a
// kfake crash forgets idempotent producers' sequence numbers (see
// internal/upstream/kfake-crash-txn), so a produce retried across it can
// land twice, or after a later one; that reorders the input topic, the
// consumer rightly dead-letters the late segments, and their batches would
// be missing from its output through no fault of its own. Once the broker
// is back, cons resumes: it must notice that the restarted broker aborted
// its transaction, and commit again.
func killBrokerUnder(t *testing.T, br, cons, prod *proc, g *groupWatch, listen, data string, keep func(*proc) *proc) *proc {
	t.Helper()
	for try := 1; ; try++ {
		g.waitOpenTxn("merged", cons)
		cons.signal(syscall.SIGSTOP)
		time.Sleep(100 * time.Millisecond) // an EndTxn already sent is done
		if g.openTxn("merged") {
			break
		}
		cons.signal(syscall.SIGCONT)
		if try == 5 {
			t.Fatalf("five tries froze the consumer between two transactions")
		}
	}
	if code := prod.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("produce: exit %d\n%s", code, prod.stderr.String())
	}
	// The consumer learns that its transaction is gone either from a
	// fence (its epoch was bumped), when it starts a new session, or from
	// an abort kfake accepts at the old epoch, when it redoes from the
	// last commit: an abort with an error, or, when the group lost in the
	// restart makes the session abort first, one by the rebalance (an
	// info line: see consume). It must say which, and commit again.
	const restarted, redone = "starting a new transactional session", "transaction aborted"
	before, logged := g.committed(), len(cons.stderr.String())
	br.kill(t)
	br = keep(startBroker(t, listen, data))
	aborted := recovered(t, br)
	cons.signal(syscall.SIGCONT)
	g.waitCommitted(before+100, cons)
	after := cons.stderr.String()[logged:]
	t.Logf("broker killed: the restarted broker closed %d open transactions; the consumer restarted its session: %v, redid an aborted transaction: %v",
		aborted, strings.Contains(after, restarted), strings.Contains(after, redone))
	if !strings.Contains(after, restarted) && !strings.Contains(after, redone) {
		t.Fatalf("the broker was killed inside a transaction of the consumer, which went on as if it had committed:\n%s", after)
	}
	return br
}

// recovered returns how many open transactions the broker closed at start,
// from its stderr.
func recovered(t *testing.T, br *proc) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := br.stderr.String()
		if i := strings.Index(s, "did not stop cleanly"); i >= 0 {
			var n int
			if j := strings.Index(s[i:], "closed "); j >= 0 {
				fmt.Sscanf(s[i+j:], "closed %d", &n)
			}
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted broker did not report its recovery:\n%s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keepLogs copies the logs of procs and the test's files (input log,
// output file, broker data dir) under $CRASH_KEEP if the test failed, or
// always with $CRASH_KEEP_ALL set.
func keepLogs(t *testing.T, dir string, procs []*proc) {
	kd := os.Getenv("CRASH_KEEP")
	if (!t.Failed() && os.Getenv("CRASH_KEEP_ALL") == "") || kd == "" {
		return
	}
	kd = filepath.Join(kd, strings.ReplaceAll(t.Name(), "/", "_")+time.Now().Format("-150405.000"))
	os.MkdirAll(kd, 0o755)
	for i, p := range procs {
		os.WriteFile(filepath.Join(kd, fmt.Sprintf("%02d-%s.log", i, p.cmd.Args[1])), []byte(strings.Join(p.cmd.Args, " ")+"\n"+p.stderr.String()), 0o644)
	}
	exec.Command("cp", "-r", dir, kd).Run()
	t.Logf("logs kept in %s", kd)
}
