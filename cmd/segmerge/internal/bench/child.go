package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ChildReport is what a process the bench starts (`segmerge consume`, or
// the hidden `segmerge bench-fetch`) writes to its --stats-file as it
// exits, as JSON: its own account of the work and of the time it took.
type ChildReport struct {
	Batches  int64 `json:"batches,omitempty"`
	Integers int64 `json:"integers,omitempty"`
	Records  int64 `json:"records,omitempty"`
	Bytes    int64 `json:"bytes,omitempty"` // record values read
	// Seconds is the run's own clock: from before its first connection to
	// the broker until its clients are closed. Process start-up and exit
	// are not in it.
	Seconds float64 `json:"seconds"`
	// PeakRSS is the process's VmHWM, in bytes, as it writes the report;
	// 0 where /proc is missing.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// FirstSeconds is, for a consumer, the time on its clock until its
	// first batch was written: joining the group is in it.
	FirstSeconds float64 `json:"first_seconds,omitempty"`
}

// WriteChildReport writes r to path, with PeakRSS read from the calling
// process's /proc/self/status.
func WriteChildReport(path string, r ChildReport) error {
	r.PeakRSS = selfPeakRSS()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write --stats-file: %w", err)
	}
	return nil
}

// selfPeakRSS returns the VmHWM line of /proc/self/status in bytes, or 0.
func selfPeakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// ran is a finished child: its report, and what the parent saw of it.
type ran struct {
	ChildReport
	wall time.Duration // from exec to reaped
	cpu  time.Duration // user and system CPU, from the kernel
	// self is this process's own CPU while the child ran (0 off Linux).
	// With the embedded cluster and nothing else running here (the
	// pipelines, not latency's readers), that is its brokers serving it.
	self time.Duration
}

// runChild runs exe with args plus --stats-file, waits for it and returns
// its report (see startChild).
func runChild(ctx context.Context, exe, statsFile string, args ...string) (ran, error) {
	c, err := startChild(ctx, exe, statsFile, args...)
	if err != nil {
		return ran{}, err
	}
	return c.wait()
}

// child is a running bench child.
type child struct {
	cmd       *exec.Cmd
	out       *tail
	statsFile string
	start     time.Time
	self      time.Duration // selfCPU at the start
}

// startChild starts exe with args plus --stats-file. Ctrl+C reaches the
// child from the terminal too; a cancelled ctx asks it to stop cleanly
// first, and kills it (by its pid) only if it does not stop.
func startChild(ctx context.Context, exe, statsFile string, args ...string) (*child, error) {
	args = append(args, "--stats-file", statsFile)
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	c := &child{cmd: cmd, out: new(tail), statsFile: statsFile}
	cmd.Stdout, cmd.Stderr = c.out, c.out
	os.Remove(statsFile)
	c.start, c.self = time.Now(), selfCPU()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("segmerge %s: %w", args[0], err)
	}
	return c, nil
}

// interrupt asks the child to stop, as Ctrl+C does.
func (c *child) interrupt() { c.cmd.Process.Signal(os.Interrupt) }

// wait waits for the child and returns its report. The peak RSS is the
// child's own VmHWM as it writes the report at exit. The kernel's rusage
// figure is only a fallback: Go starts a child with vfork, so until exec
// the child shares this process's memory, and Linux carries that
// high-water mark across exec into the child's ru_maxrss — it would report
// the bench's own RSS (an embedded broker holding the whole topic) as the
// consumer's. A failed child's error carries the tail of its output.
func (c *child) wait() (ran, error) {
	err := c.cmd.Wait()
	r := ran{wall: time.Since(c.start), self: selfCPU() - c.self}
	if ps := c.cmd.ProcessState; ps != nil {
		r.cpu = ps.UserTime() + ps.SystemTime()
	}
	name := "segmerge " + c.cmd.Args[1]
	if err != nil {
		return r, fmt.Errorf("%s: %w; its output ends:\n%s", name, err, c.out.String())
	}
	b, err := os.ReadFile(c.statsFile)
	if err != nil {
		return r, fmt.Errorf("%s wrote no stats: %w; its output ends:\n%s", name, err, c.out.String())
	}
	if err := json.Unmarshal(b, &r.ChildReport); err != nil {
		return r, fmt.Errorf("%s stats %s: %w", name, c.statsFile, err)
	}
	if r.PeakRSS == 0 {
		r.PeakRSS = maxRSS(c.cmd.ProcessState)
	}
	return r, nil
}

// tail keeps the last 16 KiB written to it: a child's output, for errors.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	const keep = 16 << 10
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > keep {
		t.b = append(t.b[:0], t.b[len(t.b)-keep:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}

// yardstick runs path with args, a yardstick beside the pipelines (kcat,
// the baseline), its stdout to stdout, for at most timeout, and returns
// its time from exec to exit. ok is false if it did not finish in time,
// failed, or the bench was stopped; the first two are logged as
// "<what> ...: <lost>", lost saying which figure the rows go without. A
// yardstick must not hang the bench: with -e, a partition without a
// leader keeps a reader waiting for ever.
func (r *runner) yardstick(ctx context.Context, what, lost, topic string, timeout time.Duration, stdout io.Writer,
	path string, args ...string) (took time.Duration, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr tail
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.cfg.Log.Warn(what+" did not finish: "+lost, "topic", topic, "after", timeout)
		return 0, false
	case ctx.Err() != nil:
		return 0, false
	case err != nil:
		r.cfg.Log.Warn(what+" failed: "+lost, "topic", topic, "err", err, "stderr", stderr.String())
		return 0, false
	}
	return took, true
}
