package interop

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/stream"
)

// segmergeBin builds the segmerge command for the test, with -race when
// the tests run with it: the processes the test kills are where a
// stream's restarts run.
func segmergeBin(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "segmerge")
	args := []string{"build", "-o", exe}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, "github.com/segmerge/segmerge/cmd/segmerge")...).CombinedOutput(); err != nil {
		t.Fatalf("build segmerge: %v\n%s", err, out)
	}
	return exe
}

// proc is a process a test started; it is killed, by its pid, if the test
// ends first.
type proc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// startProc starts cmd, its stderr kept, and waits for it in the
// background: done receives what Wait returns.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exited reports whether p has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err // for the next to ask, and the cleanup
		return true, err
	default:
		return false, nil
	}
}

// wait waits up to d for p to end and fails the test unless it exits 0.
func (p *proc) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("%v: %v; stderr:\n%s", p.cmd.Args, err, p.stderr.String())
		}
	case <-time.After(d):
		t.Fatalf("%v did not exit within %v; stderr:\n%s", p.cmd.Args, d, p.stderr.String())
	}
}

// lineWriter hands each whole line written to it to line, without its
// newline.
type lineWriter struct {
	buf  []byte
	line func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// acked is a record the Python producer says the broker acknowledged.
type acked struct {
	P      int32  `json:"p"`
	Offset int64  `json:"offset"`
	Ts     int64  `json:"ts"`
	Value  string `json:"value"`
}

// reference splits what was acknowledged into what segmerge stream must
// write, in order, and the records it must dead-letter as unsorted: a
// partition's record below the last one kept before it is unsorted; the
// rest merged by timestamp, partition, offset.
func reference(recs []acked) (merged, unsorted []acked) {
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b acked) int { return cmp.Or(cmp.Compare(a.P, b.P), cmp.Compare(a.Offset, b.Offset)) })
	prev := map[int32]int64{}
	for _, r := range recs {
		if p, ok := prev[r.P]; ok && r.Ts < p {
			unsorted = append(unsorted, r)
			continue
		}
		prev[r.P] = r.Ts
		merged = append(merged, r)
	}
	slices.SortFunc(merged, func(a, b acked) int {
		return cmp.Or(cmp.Compare(a.Ts, b.Ts), cmp.Compare(a.P, b.P), cmp.Compare(a.Offset, b.Offset))
	})
	return merged, unsorted
}

// readExactly reads topic from its start, read_committed, until it has n
// records and then a quiet half second, and returns them.
func readExactly(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	var out []*kgo.Record
	for {
		wait := time.Until(deadline)
		if len(out) >= n {
			wait = 500 * time.Millisecond
		}
		rctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(rctx)
		cancel()
		got := len(out)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		switch {
		case len(out) == got && len(out) >= n:
			return out
		case time.Now().After(deadline):
			t.Fatalf("read %d of %d records of %s in 30s", len(out), n, topic)
		}
	}
}

// header is the value of r's header key, "" if it has none.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// A confluent_kafka producer writes four partitions of 1,500 records,
// each sorted by timestamps it chooses, five records a partition going
// back in time, 20 records every 40ms (about 15s in all), while `segmerge
// stream --output-topic --idle-timeout none` (a process of the segmerge
// command) follows the topic. The stream process is SIGKILLed three times
// mid-run: each time once the producer has written 20% more of the input
// and the process has committed since it took over, and while it has
// output in a transaction not yet committed (at least one of the kills
// must leave that transaction open). It is started again at once
// with the same transactional id, which fences what the killed one left
// open. Once the producer is done the stream stops cleanly and a run with
// -e writes the tail, which waited for partitions with nothing later. A
// read_committed read of the output is then the reference merge (by
// timestamp, partition, offset) of the records kept, exactly, each with
// its source; and the dead letters hold every record going back once, as
// unsorted.
func TestPythonStreamSurvivesKills(t *testing.T) {
	requireTools(t, confluentKafka)
	exe := segmergeBin(t)
	c := cluster(t)
	ctx := ctx(t)
	const (
		topic = "py-tape"
		parts = 4
		per   = 1500
		back  = 5
		total = parts * per
		chunk = 20 // records the producer writes at a time
	)
	createTopic(t, c, topic, parts)
	adm := admin(t, c.Addrs())
	// A short session lets a restarted process take over soon after a
	// kill; the embedded broker's floor is 6s unless lowered.
	one := "1000"
	if _, err := adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "group.min.session.timeout.ms", Value: &one}}); err != nil {
		t.Fatal(err)
	}

	var (
		recs []acked
		bad  error
		// written is read while the producer runs: lines are handled on
		// exec's copying goroutine.
		written atomic.Int64
	)
	py := exec.Command(python, "testdata/produce_stream.py", c.Bootstrap(), topic, strconv.Itoa(per), "7",
		"--back", strconv.Itoa(back), "--chunk", strconv.Itoa(chunk), "--gate")
	// The test sets the producer's pace: a chunk every 40ms while flow
	// is on, each only once the one before is acknowledged, so no line
	// waits in the pipe. It holds the feed from a kill until the
	// successor has taken over, so a slow restart cannot let the
	// producer finish before the kills are done.
	gate, err := py.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var flow atomic.Bool
	flow.Store(true)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer gate.Close()
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for fed := int64(0); ; {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if flow.Load() && written.Load() >= fed*chunk {
				if _, err := gate.Write([]byte("\n")); err != nil {
					return
				}
				fed++
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	py.Stdout = &lineWriter{line: func(l []byte) {
		var r acked
		if err := json.Unmarshal(l, &r); err != nil && bad == nil {
			bad = fmt.Errorf("%q: %w", l, err)
		}
		recs = append(recs, r)
		written.Add(1)
	}}
	producer := startProc(t, py)

	args := []string{"stream", "-b", c.Bootstrap(), "-t", topic, "--output-topic", topic + ".ordered", "-g", "tape",
		"--from-beginning", "--idle-timeout", "none", "--session-timeout", "2s", "--transaction-timeout", "5s",
		"--commit-interval", "100ms", "--transactional-id", "py-tape-stream"}
	s := startProc(t, exec.Command(exe, args...))
	waitCommitted(t, adm, "tape", topic, 1, s)
	var atKill, outAtKill int64 // committed, and the output's end offset, once the last process killed was dead
	inTxn := 0                  // kills that left a transaction open
	for kill := 1; kill <= 3; kill++ {
		for written.Load() < total*int64(kill)/5 {
			if done, err := producer.exited(); done {
				t.Fatalf("the producer exited (%v) after %d records; stderr:\n%s", err, written.Load(), producer.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The process started last has taken over and writes.
		waitCommitted(t, adm, "tape", topic, atKill+1, s)
		committed := committedSum(t, adm, "tape", topic)
		// Kill while it has output in a transaction not yet committed:
		// the output's end offset is past its last stable one.
		var out, stable int64
		deadline := time.Now().Add(30 * time.Second)
		for out, stable = ends(t, adm, topic+".ordered"); out == stable; out, stable = ends(t, adm, topic+".ordered") {
			if done, err := s.exited(); done {
				t.Fatalf("the stream exited (%v); stderr:\n%s", err, s.stderr.String())
			}
			if done, _ := producer.exited(); done || time.Now().After(deadline) {
				t.Fatalf("kill %d: no output in an open transaction within 30s (the producer done: %v, %d of %d records written); stderr:\n%s",
					kill, done, written.Load(), total, s.stderr.String())
			}
		}
		if done, _ := producer.exited(); done || committed >= total || out <= outAtKill {
			t.Fatalf("kill %d: the producer done (%v), %d of %d records committed, the output's end offset %d (%d at the last kill): the kill is not mid-run",
				kill, done, committed, total, out, outAtKill)
		}
		s.cmd.Process.Signal(syscall.SIGKILL)
		flow.Store(false)
		<-s.done
		s.done <- nil
		// Dead, it commits nothing more: a transaction still open is
		// one it was killed in, until its successor fences it.
		var deadStable int64
		outAtKill, deadStable = ends(t, adm, topic+".ordered")
		open := outAtKill > deadStable
		if open {
			inTxn++
		}
		atKill = committedSum(t, adm, "tape", topic)
		t.Logf("kill %d: SIGKILL with %d of %d records written, %d committed; the output's end offset %d, stable %d: killed in a transaction %v",
			kill, written.Load(), total, atKill, outAtKill, deadStable, open)
		s = startProc(t, exec.Command(exe, args...))
		// The successor redoes what the killed process's open
		// transaction held before the feed goes on. With none open,
		// the dead process had written all it could, and with
		// --idle-timeout none the successor has nothing to commit
		// until more comes: the feed goes on at once.
		if open {
			waitCommitted(t, adm, "tape", topic, atKill+1, s)
		}
		flow.Store(true)
	}
	if inTxn == 0 {
		t.Fatal("no kill came while the stream had output in an open transaction")
	}
	producer.wait(t, time.Minute) // recs and bad are complete once it returns
	if bad != nil {
		t.Fatal(bad)
	}
	// Once it commits, its signal handler is set: SIGINT stops it cleanly.
	waitCommitted(t, adm, "tape", topic, atKill+1, s)
	s.cmd.Process.Signal(syscall.SIGINT)
	s.wait(t, time.Minute)
	last := startProc(t, exec.Command(exe, append(args, "-e")...))
	last.wait(t, time.Minute)
	if got := committedSum(t, adm, "tape", topic); got != total {
		t.Fatalf("the group committed %d of %d records", got, total)
	}

	want, unsorted := reference(recs)
	if len(recs) != total || len(unsorted) != parts*back {
		t.Fatalf("the producer acknowledged %d records, %d of them unsorted; want %d, %d", len(recs), len(unsorted), total, parts*back)
	}
	got := readExactly(t, c.Addrs(), topic+".ordered", len(want))
	if len(got) != len(want) {
		t.Fatalf("the output holds %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		src := fmt.Sprintf("%s/%d@%d", topic, w.P, w.Offset)
		if string(g.Value) != w.Value || g.Timestamp.UnixMilli() != w.Ts || g.Partition != 0 || header(g, kafka.HeaderSource) != src {
			t.Fatalf("output record %d: %s at %d on partition %d from %s; want %s at %d from %s",
				i, g.Value, g.Timestamp.UnixMilli(), g.Partition, header(g, kafka.HeaderSource), w.Value, w.Ts, src)
		}
	}
	var dead, wantDead []string
	for _, d := range readExactly(t, c.Addrs(), topic+".dlq", len(unsorted)) {
		if r := header(d, kafka.HeaderReason); r != stream.ReasonUnsorted {
			t.Fatalf("dead letter %s with reason %q, want unsorted", d.Value, r)
		}
		dead = append(dead, string(d.Value))
	}
	for _, u := range unsorted {
		wantDead = append(wantDead, u.Value)
	}
	slices.Sort(dead)
	slices.Sort(wantDead)
	if !slices.Equal(dead, wantDead) {
		t.Fatalf("dead letters %v, want each unsorted record once: %v", dead, wantDead)
	}
}

func admin(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// waitCommitted waits until group has committed at least n records of
// topic, failing if s exits first.
func waitCommitted(t *testing.T, adm *kadm.Client, group, topic string, n int64, s *proc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for committedSum(t, adm, group, topic) < n {
		if done, err := s.exited(); done {
			t.Fatalf("the stream exited (%v) before the group committed %d records; stderr:\n%s", err, n, s.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group committed fewer than %d records in 60s; stderr:\n%s", n, s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// committedSum is the sum of group's committed offsets of topic.
func committedSum(t *testing.T, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := kafka.Committed(ctx, adm, group, topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, o := range offs {
		sum += o
	}
	return sum
}

// ends returns partition 0 of topic's end offset (records written,
// committed or not, and transaction markers) and its last stable offset
// (the end of what read_committed readers may see).
func ends(t *testing.T, adm *kadm.Client, topic string) (end, stable int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = e.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	l, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	eo, _ := e.Lookup(topic, 0)
	lo, _ := l.Lookup(topic, 0)
	return eo.Offset, lo.Offset
}
