package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
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

// childEnv, set, makes the test binary run one stream process (see
// runChild) instead of the tests: the kill test SIGKILLs such processes.
const childEnv = "SEGMERGE_STREAM_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// childSpec is what a child process runs.
type childSpec struct {
	Brokers         []string
	Topic, Group    string
	ClientID        string
	TransactionalID string
	Session         time.Duration
}

// runChild runs the stream the spec says, following the topic with no
// idle timeout until SIGTERM, logging on stderr, and returns the exit
// code.
func runChild(spec string) int {
	var s childSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	st, err := stream.Run(ctx, childConfig(s))
	fmt.Fprintf(os.Stderr, "stats %+v\n", st)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func childConfig(s childSpec) stream.Config {
	cfg := config(s.Brokers, s.Topic)
	cfg.Group, cfg.TransactionalID, cfg.ExitAtEnd, cfg.IdleTimeout = s.Group, s.TransactionalID, false, -1
	cfg.SessionTimeout, cfg.TransactionTimeout = s.Session, s.Session+3*time.Second
	cfg.MemberOpts = []kgo.Opt{kgo.ClientID(s.ClientID)}
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return cfg
}

// child is a stream process started by a test, killed by PID if the test
// ends first.
type child struct {
	spec   childSpec
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

func startChild(t *testing.T, s childSpec) *child {
	t.Helper()
	spec, _ := json.Marshal(s)
	c := &child{spec: s, cmd: exec.Command(os.Args[0], "-test.run=^$"), done: make(chan error, 1)}
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() { c.cmd.Process.Kill() })
	return c
}

// kill sends SIGKILL, as a crash would, and waits for the process to end.
func (c *child) kill(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func (c *child) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("stream process: %v; stderr:\n%s", err, c.stderr.String())
		}
	case <-time.After(d):
		t.Fatalf("stream process did not exit within %v; stderr:\n%s", d, c.stderr.String())
	}
}

// Two processes share a group and follow a topic with no idle timeout
// (so that no record can be late) while a producer writes it in key
// order, partitions interleaved: one writes, the other waits as a
// standby. The writer is SIGKILLed three times mid-run, each time after
// the producer has written 20% more of the input; the standby takes over,
// and the killed process starts again (with its own transactional id, so
// that it fences what its predecessor left open) as the next standby. Once the producer is done both
// stop cleanly and a run with ExitAtEnd writes the tail, which waited for
// the partitions that had given out all they held. A read_committed read
// of the output is then the reference merge exactly, and the dead letters
// hold every unsorted record once.
func TestStreamSurvivesKills(t *testing.T) {
	c := cluster(t)
	addrs := c.Addrs()
	ctx := testCtx(t)
	adm := admin(t, addrs)
	// A short session lets a standby take over quickly; the embedded
	// broker's floor is 6s unless lowered.
	one := "1000"
	if _, err := adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "group.min.session.timeout.ms", Value: &one}}); err != nil {
		t.Fatal(err)
	}
	const parts, perPart = 4, 6000
	lanes := sortedInput(2, shape{parts: parts, perPart: perPart, unsorted: 20})
	want, unsorted := reference(lanes)
	total := int64(parts * perPart)
	if _, err := adm.CreateTopic(ctx, parts, -1, nil, "feed"); err != nil {
		t.Fatal(err)
	}
	produced := make(chan error, 1)
	var written atomic.Int64
	go func() { produced <- produceInOrder(ctx, addrs, "feed", lanes, 100, 50*time.Millisecond, &written) }()

	// Each process started has a client id of its own, so that the
	// group's description tells a live owner from a killed one whose
	// session has not yet run out.
	started := 0
	spec := func(name string) childSpec {
		started++
		return childSpec{Brokers: addrs, Topic: "feed", Group: "tape", ClientID: fmt.Sprintf("%s%d", name, started),
			TransactionalID: "stream-" + name, Session: 2 * time.Second}
	}
	procs := map[string]*child{"a": startChild(t, spec("a"))}
	waitCommitted(t, adm, "tape", "feed", 1, procs) // a holds the partitions
	procs["b"] = startChild(t, spec("b"))
	var logs []string
	atKill := int64(0) // committed at the last kill
	for kill := 1; kill <= 3; kill++ {
		// Each kill once the producer has written 20% more of the input
		// (it takes about 12s in all) and the owner has committed since
		// the last kill: a process that has taken over and works.
		for written.Load() < total*int64(kill)/5 {
			time.Sleep(10 * time.Millisecond)
		}
		waitCommitted(t, adm, "tape", "feed", atKill+1, procs)
		name := ownerOf(t, adm, "tape", procs)
		select {
		case err := <-produced:
			t.Fatalf("the producer finished (%v) before kill %d: the kills are not mid-run", err, kill)
		default:
		}
		atKill = committedSum(t, adm, "tape", "feed")
		t.Logf("kill %d: SIGKILL %s, the owner, at %d of %d records written, %d committed", kill, procs[name].spec.ClientID, written.Load(), total, atKill)
		procs[name].kill(t)
		logs = append(logs, procs[name].stderr.String())
		// The standby takes over (once the killed member's session has
		// run out); then the killed one starts again, as a standby.
		killed := procs[name].spec.ClientID
		delete(procs, name)
		took := ownerOf(t, adm, "tape", procs)
		t.Logf("kill %d: %s, the standby, took over from %s", kill, procs[took].spec.ClientID, killed)
		procs[name] = startChild(t, spec(name))
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		p := procs[name]
		for !strings.Contains(p.stderr.String(), "streaming in key order") { // its SIGTERM handler is set
			time.Sleep(10 * time.Millisecond)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t, 60*time.Second)
		logs = append(logs, p.stderr.String())
	}
	last := childConfig(spec("last"))
	last.ExitAtEnd, last.Log = true, testLog(t)
	lst, err := stream.Run(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the last run: %+v", lst)
	if got := committedSum(t, adm, "tape", "feed"); got != total {
		offs, _ := kafka.Committed(ctx, adm, "tape", "feed", nil)
		ends, _ := kafka.EndOffsets(ctx, adm, "feed")
		t.Fatalf("the group committed %d of %d records: %v, ends %v", got, total, offs, ends)
	}
	standby := false
	for _, l := range logs {
		standby = standby || strings.Contains(l, "standby: another member of group tape holds every partition")
	}
	if !standby {
		t.Fatalf("no process said it waits as a standby; they said:\n%s", strings.Join(logs, "\n"))
	}
	checkOutput(t, "feed", readCommitted(t, addrs, "feed.ordered", len(want), 60*time.Second), want)
	dead := readCommitted(t, addrs, "feed.dlq", len(unsorted), 30*time.Second)
	var deadValues, unsortedValues []string
	for _, d := range dead {
		if d.reason != stream.ReasonUnsorted {
			t.Fatalf("dead letter %s with reason %q, want unsorted", d.value, d.reason)
		}
		deadValues = append(deadValues, d.value)
	}
	for _, u := range unsorted {
		unsortedValues = append(unsortedValues, u.value)
	}
	slices.Sort(deadValues)
	slices.Sort(unsortedValues)
	if !slices.Equal(deadValues, unsortedValues) {
		t.Fatalf("dead letters %v, want each unsorted record once: %v", deadValues, unsortedValues)
	}
}

// produceInOrder writes lanes to their partitions of topic in key order,
// partitions interleaved (a merge by each lane's next record, so that an
// unsorted record goes early), chunk records at a time, a pause between
// chunks, adding the records acknowledged to written.
func produceInOrder(ctx context.Context, addrs []string, topic string, lanes [][]in, chunk int, pause time.Duration, written *atomic.Int64) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	next := make([]int, len(lanes))
	var batch []*kgo.Record
	for {
		best := -1
		for p, lane := range lanes {
			if next[p] < len(lane) && (best < 0 || lane[next[p]].ts < lanes[best][next[best]].ts) {
				best = p
			}
		}
		if best >= 0 {
			r := lanes[best][next[best]]
			next[best]++
			batch = append(batch, &kgo.Record{Topic: topic, Partition: r.part, Value: []byte(r.value), Timestamp: time.UnixMilli(r.ts),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}})
		}
		if len(batch) == chunk || best < 0 && len(batch) > 0 {
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				return err
			}
			written.Add(int64(len(batch)))
			batch = batch[:0]
			time.Sleep(pause)
		}
		if best < 0 {
			return nil
		}
	}
}

// waitCommitted waits until the group has committed at least n records
// of topic, failing if any process exits first.
func waitCommitted(t *testing.T, adm *kadm.Client, group, topic string, n int64, procs map[string]*child) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for committedSum(t, adm, group, topic) < n {
		for name, p := range procs {
			select {
			case err := <-p.done:
				t.Fatalf("%s exited (%v) before the group committed %d records; stderr:\n%s", name, err, n, p.stderr.String())
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group committed fewer than %d records in 60s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func committedSum(t *testing.T, adm *kadm.Client, group, topic string) int64 {
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

// ownerOf returns the name in procs of the live process whose member of
// group holds partitions, waiting for there to be one.
func ownerOf(t *testing.T, adm *kadm.Client, group string, procs map[string]*child) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gs, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			for _, m := range gs[group].Members {
				a, ok := m.Assigned.AsConsumer()
				if !ok || len(a.Topics) == 0 || len(a.Topics[0].Partitions) == 0 {
					continue
				}
				for name, p := range procs {
					if p.spec.ClientID == m.ClientID {
						return name
					}
				}
			}
		} else if !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("describe group: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no live member of group %s holds partitions", group)
	return ""
}
