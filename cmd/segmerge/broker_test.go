package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A second broker on a live broker's data dir, on other ports, is refused
// before it reads anything: it exits at once naming the data dir, and the
// first keeps serving its data and its running mark (which the second
// used to take for a crash, "recover" and then delete).
func TestSecondBrokerOnDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	first, addr := brokerProc(t, data)
	input := filepath.Join(dir, "input.jsonl")
	if p := start(t, nil, "produce", "-b", addr, "--batches", "5", "--input-log", input); p.wait(t, 60*time.Second) != 0 {
		t.Fatalf("produce: %s", p.stderr.String())
	}

	began := time.Now()
	second := start(t, nil, "broker", "--listen", freeListen(t), "--data-dir", data)
	code := second.wait(t, 15*time.Second)
	msg := second.stderr.String()
	t.Logf("second broker: exit %d after %v: %s", code, time.Since(began).Round(time.Millisecond), msg)
	if code == 0 || !strings.Contains(msg, "data dir "+data+" is in use") || !strings.Contains(msg, "another broker") {
		t.Fatalf("second broker on %s: exit %d, stderr %q; want a refusal naming the data dir", data, code, msg)
	}
	if strings.Contains(msg, "did not stop cleanly") {
		t.Fatalf("the second broker ran a recovery on the live data dir:\n%s", msg)
	}
	if _, err := os.Stat(filepath.Join(data, "segmerge-broker.running")); err != nil {
		t.Fatalf("the live broker's running mark is gone: %v", err)
	}

	out := filepath.Join(dir, "out.jsonl")
	if p := start(t, nil, "consume", "-b", addr, "-e", "--from-beginning", "--out-file", out); p.wait(t, 60*time.Second) != 0 || lines(t, out) != 5 {
		t.Fatalf("consume from the first broker: %d batches of 5; stderr:\n%s", lines(t, out), p.stderr.String())
	}
	if p := start(t, nil, "verify", "--input-log", input, "--out-file", out); p.wait(t, 30*time.Second) != 0 {
		t.Fatalf("verify: %s", p.stderr.String())
	}
	if code := first.interrupt(t); code != 0 {
		t.Fatalf("first broker after Ctrl+C: exit %d; stderr:\n%s", code, first.stderr.String())
	}

	// Its lock went with it: a broker starts on the data dir again, and
	// finds a clean stop.
	again, _ := brokerProc(t, data)
	if code := again.interrupt(t); code != 0 || strings.Contains(again.stderr.String(), "did not stop cleanly") {
		t.Fatalf("broker after the first stopped: exit %d; stderr:\n%s", code, again.stderr.String())
	}
}

// A SIGKILLed broker leaves no lock behind: the kernel drops it with the
// process.
func TestKilledBrokerLeavesDataDirFree(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	first, _ := brokerProc(t, data)
	first.kill(t)
	again, _ := brokerProc(t, data)
	if code := again.interrupt(t); code != 0 || !strings.Contains(again.stderr.String(), "did not stop cleanly") {
		t.Fatalf("broker after a SIGKILL: exit %d; stderr:\n%s", code, again.stderr.String())
	}
}

// Everything a broker writes under its data dir is the owner's alone:
// directories 0700, files 0600, while it runs and after it stops.
func TestBrokerDataDirIsPrivate(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	br, addr := brokerProc(t, data)
	if p := start(t, nil, "produce", "-b", addr, "--batches", "3"); p.wait(t, 60*time.Second) != 0 {
		t.Fatalf("produce: %s", p.stderr.String())
	}
	out := filepath.Join(dir, "out.jsonl")
	if p := start(t, nil, "consume", "-b", addr, "-e", "--from-beginning", "-g", "private", "--out-file", out); p.wait(t, 60*time.Second) != 0 {
		t.Fatalf("consume: %s", p.stderr.String())
	}
	private := func(when string) {
		t.Helper()
		n := 0
		err := filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			want := os.FileMode(0o600)
			if d.IsDir() {
				want = 0o700 | os.ModeDir
			}
			if fi.Mode() != want {
				t.Errorf("%s: %s is %v, want %v", when, path, fi.Mode(), want)
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n < 10 {
			t.Fatalf("%s: %d entries under %s: the broker wrote less than the test expects", when, n, data)
		}
	}
	private("running")
	if code := br.interrupt(t); code != 0 {
		t.Fatalf("broker after Ctrl+C: exit %d; stderr:\n%s", code, br.stderr.String())
	}
	private("stopped")
}
