package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	p := start(t, w, "broker", "--listen", listen, "--data-dir", dataDir)
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
// SIGKILLed three times, each after 20% more of the batches, and once more
// at the end, each time restarted. At the end verify must find every batch
// once in the file and once in a read_committed read of the topic. With
// killBroker the broker is SIGKILLed and restarted on its data dir once
// mid-run too, and only the file is checked (plain commits).
func TestCrashesLeaveOutputExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		killBroker bool
	}{{"simple", false}, {"concurrent", false}, {"simple", true}} {
		name := tc.mode
		if tc.killBroker {
			name += " with broker killed"
		}
		t.Run(name, func(t *testing.T) { crashRun(t, tc.mode, tc.killBroker) })
	}
}

func crashRun(t *testing.T, mode string, killBroker bool) {
	const total = 2000
	dir := t.TempDir()
	listen, data := freeListen(t), filepath.Join(dir, "data")
	br := startBroker(t, listen, data)
	input := filepath.Join(dir, "input.jsonl")
	out := filepath.Join(dir, "out.jsonl")

	prod := start(t, nil, "produce", "-b", listen, "--batches", fmt.Sprint(total), "--interval", "2ms", "--input-log", input, "--seed", "11", "-q")
	// The output topic (transactional) joins the runs without a broker
	// kill. With one, it is not yet exactly once here (see the closing
	// note of the exactly-once issue): the broker-kill run checks the file,
	// on the plain-commit path.
	withTopic := !killBroker
	args := func(extra ...string) []string {
		a := append([]string{"consume", "-b", listen, "--mode", mode, "-g", "crash", "--out-file", out, "--session-timeout", "6s"}, extra...)
		if withTopic {
			a = append(a, "--output-topic", "merged")
		}
		return a
	}
	consume := func() *proc {
		return start(t, nil, args("--from-beginning", "--commit-interval", "30ms", "-q")...)
	}
	cons := consume()
	for k := 1; k <= 3; k++ {
		waitLines(t, out, k*total/5, cons, prod)
		cons.kill(t)
		if killBroker && k == 2 {
			br.kill(t)
			br = startBroker(t, listen, data)
		}
		cons = consume()
	}
	if code := prod.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("produce: exit %d\n%s", code, prod.stderr.String())
	}
	// One more crash, then a consumer that runs to the end; then check:
	// every batch exactly once.
	cons.kill(t)
	last := start(t, nil, args("-e")...)
	if code := last.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("final consume -e: exit %d\n%s", code, last.stderr.String())
	}
	if n := lines(t, out); n != total {
		t.Fatalf("file holds %d lines, want %d\n%s", n, total, last.stderr.String())
	}
	ver := start(t, nil, "verify", "--input-log", input, "--out-file", out)
	if code := ver.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("verify of the file after 4 consumer kills: exit %d\n%s", code, ver.stderr.String())
	}
	if !withTopic {
		br.interrupt(t)
		return
	}
	ver = start(t, nil, "verify", "--input-log", input, "-b", listen, "--output-topic", "merged")
	if code := ver.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("verify of the output topic (read_committed) after 4 consumer kills: exit %d\n%s", code, ver.stderr.String())
	}
	br.interrupt(t)
}
