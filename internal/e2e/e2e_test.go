package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/sink"
	"github.com/segmerge/segmerge/verify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var modes = []string{consumer.ModeSimple, consumer.ModeScalable, consumer.ModeConcurrent}

// cluster starts an embedded cluster on free 127.0.0.1 ports, persisted to
// dir ("" for a fresh temp dir); it is closed when the test ends.
func cluster(t *testing.T, dir string) *broker.Cluster {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	c, err := broker.Start(broker.Config{Listen: []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// produce writes n batches and returns the input log's path.
func produce(t *testing.T, c *broker.Cluster, n int64, edit func(*producer.Config)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "input.jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := producer.DefaultConfig()
	cfg.Brokers, cfg.Batches, cfg.Seed, cfg.InputLog = c.Addrs(), n, 7, f
	if edit != nil {
		edit(&cfg)
	}
	st, err := producer.Run(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Batches != n {
		t.Fatalf("produced %d batches, want %d", st.Batches, n)
	}
	return path
}

// consume runs a consumer into a fresh JSONL file and returns its path.
func consume(t *testing.T, c *broker.Cluster, edit func(*consumer.Config)) (string, consumer.Stats) {
	t.Helper()
	out, st, err := consumeInto(t, c, edit)
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

// consumeErr is consume for a run expected to fail: it returns the error.
func consumeErr(t *testing.T, c *broker.Cluster, edit func(*consumer.Config)) (consumer.Stats, error) {
	_, st, err := consumeInto(t, c, edit)
	return st, err
}

func consumeInto(t *testing.T, c *broker.Cluster, edit func(*consumer.Config)) (string, consumer.Stats, error) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	f, err := sink.Create(out, sink.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := consumer.DefaultConfig()
	cfg.Brokers, cfg.Sink, cfg.FromBeginning, cfg.ExitAtEnd = c.Addrs(), f, true, true
	cfg.CommitInterval = 50 * time.Millisecond
	if os.Getenv("SEGMERGE_TEST_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if edit != nil {
		edit(&cfg)
	}
	st, err := consumer.Run(ctx(t), cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return out, st, err
}

func verifyFile(t *testing.T, input, out string) *verify.Report {
	t.Helper()
	rep, err := verify.Run(ctx(t), verify.Config{InputLog: input, OutFile: out})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("%s\nall problems: %v", rep.Summary(), rep.Problems)
	}
	return rep
}

// Each mode merges every batch once, in order, and the three outputs are
// byte-identical.
func TestModesEndToEnd(t *testing.T) {
	c := cluster(t, "")
	const n = 400
	input := produce(t, c, n, nil)
	var first []byte
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			out, st := consume(t, c, func(cfg *consumer.Config) { cfg.Mode, cfg.Group = mode, "g-"+mode })
			if st.Batches != n || st.Bad != 0 || st.Pending != 0 {
				t.Fatalf("stats %+v", st)
			}
			rep := verifyFile(t, input, out)
			if rep.Batches != n {
				t.Fatalf("verified %d batches, want %d", rep.Batches, n)
			}
			body, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = body
			} else if !bytes.Equal(first, body) {
				t.Fatalf("--mode %s output differs from --mode simple", mode)
			}
		})
	}
}

// The original consumers broke on exactly this: partitions that run unevenly.
// Fetches from one broker (the leader of several partitions) are held back,
// chunked segments and the batch layout included; batches must still be
// whole, once, and in ascending order.
func TestUnevenPartitions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*producer.Config)
		delay time.Duration
	}{
		{"segment layout", nil, 40 * time.Millisecond},
		{"segment layout chunked", func(c *producer.Config) { c.ChunkSize, c.MinLen, c.MaxLen = 3, 0, 12 }, 40 * time.Millisecond},
		{"batch layout", func(c *producer.Config) { c.Layout = producer.LayoutBatch }, 40 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster(t, "")
			const n = 300
			input := produce(t, c, n, tc.edit)
			slow := c.Kfake().LeaderFor("segment-topic", 3)
			var held atomic.Int64
			k := c.Kfake()
			k.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
				k.KeepControl()
				if k.CurrentNode() == slow {
					held.Add(1)
					k.SleepControl(func() { time.Sleep(tc.delay) })
				}
				return nil, nil, false
			})
			for _, mode := range modes {
				t.Run(mode, func(t *testing.T) {
					before := held.Load()
					out, st := consume(t, c, func(cfg *consumer.Config) { cfg.Mode, cfg.Group = mode, "uneven-"+mode })
					if st.Batches != n {
						t.Fatalf("wrote %d batches, want %d (stats %+v)", st.Batches, n, st)
					}
					verifyFile(t, input, out)
					if held.Load() == before {
						t.Fatal("no fetch was delayed: the test did not test unevenness")
					}
				})
			}
		})
	}
}

// A broker restarted on the same data dir keeps the topic and the group's
// commits: a consumer resumes after what it wrote, nothing is written twice,
// and a restarted producer continues the batch ids.
func TestBrokerRestartResumes(t *testing.T) {
	dir := t.TempDir()
	c := cluster(t, dir)
	input := produce(t, c, 500, nil)
	out1, st1 := consume(t, c, func(cfg *consumer.Config) { cfg.Group, cfg.Count, cfg.ExitAtEnd = "resume", 200, false })
	if st1.Batches != 200 {
		t.Fatalf("first run wrote %d batches", st1.Batches)
	}
	c.Close()

	c = cluster(t, dir)
	// The restarted producer appends to the same input log.
	f, err := os.OpenFile(input, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := producer.DefaultConfig()
	cfg.Brokers, cfg.Batches, cfg.InputLog = c.Addrs(), 100, f
	pst, err := producer.Run(ctx(t), cfg)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if pst.FirstBatch != 500 {
		t.Fatalf("restarted producer began at batch %d, want 500", pst.FirstBatch)
	}
	out2, st2 := consume(t, c, func(cfg *consumer.Config) { cfg.Group = "resume" })
	if st2.Batches != 400 {
		t.Fatalf("second run wrote %d batches, want the 400 not yet written", st2.Batches)
	}
	both := filepath.Join(t.TempDir(), "both.jsonl")
	b1, _ := os.ReadFile(out1)
	b2, _ := os.ReadFile(out2)
	if err := os.WriteFile(both, append(b1, b2...), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep := verifyFile(t, input, both); rep.Batches != 600 {
		t.Fatalf("verified %d batches, want 600", rep.Batches)
	}
}

// -e with nothing to read (a group already at the end, or a fresh group
// starting at the end) ends at once instead of waiting for records.
func TestExitAtEndWithNothingToRead(t *testing.T) {
	c := cluster(t, "")
	produce(t, c, 10, nil)
	for _, mode := range modes {
		start := time.Now()
		_, st := consume(t, c, func(cfg *consumer.Config) { cfg.Mode, cfg.Group, cfg.FromBeginning = mode, "idle-"+mode, false })
		if st.Batches != 0 || time.Since(start) > 20*time.Second {
			t.Fatalf("--mode %s: %d batches in %v", mode, st.Batches, time.Since(start))
		}
	}
}

// signalHandler is a slog handler that closes ch when a record's message
// contains msg.
type signalHandler struct {
	msg  string
	once *sync.Once
	ch   chan struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.msg) {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}

// A consumer started before its topic exists (the three-terminal
// walkthrough in the other order) waits, then merges what is produced.
func TestConsumerStartedBeforeTheTopic(t *testing.T) {
	c := cluster(t, "")
	waiting := make(chan struct{})
	type result struct {
		st  consumer.Stats
		err error
	}
	done := make(chan result, 1)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	f, err := sink.Create(out, sink.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	go func() {
		cfg := consumer.DefaultConfig()
		cfg.Brokers, cfg.Sink, cfg.FromBeginning, cfg.Count = c.Addrs(), f, true, 50
		cfg.Log = slog.New(signalHandler{msg: "waiting for the topic", once: new(sync.Once), ch: waiting})
		st, err := consumer.Run(ctx(t), cfg)
		done <- result{st, err}
	}()
	select {
	case <-waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer never said it waits for the topic")
	}
	start := time.Now()
	input := produce(t, c, 50, nil)
	r := <-done
	if r.err != nil || r.st.Batches != 50 {
		t.Fatalf("consumer: %d batches, err %v", r.st.Batches, r.err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the consumer took %v after the topic appeared (metadata cache?)", d)
	}
	verifyFile(t, input, out)
}

// A consumer that gets no partition (the group's only partition is held by
// another member) says so instead of waiting silently. Either of the two may
// be the one left out, so both report to one channel.
func TestUnassignedConsumerSaysSo(t *testing.T) {
	c := cluster(t, "")
	produce(t, c, 5, func(cfg *producer.Config) { cfg.Partitions, cfg.Segments = 1, 1 })
	told := make(chan struct{})
	log := slog.New(signalHandler{msg: "no partition assigned yet", once: new(sync.Once), ch: told})
	runCtx, cancel := context.WithCancel(ctx(t))
	var done []<-chan error
	for range 2 {
		cfg := consumer.DefaultConfig()
		cfg.Brokers, cfg.Group, cfg.Segments, cfg.Log = c.Addrs(), "one-partition", 1, log
		cfg.Sink = sink.NewWriter(io.Discard, sink.JSONL, false)
		done = append(done, background(runCtx, cfg))
	}
	select {
	case <-told:
	case <-time.After(40 * time.Second):
		t.Error("the unassigned consumer stayed silent")
	}
	cancel()
	for _, d := range done {
		if err := <-d; err != nil {
			t.Fatal(err)
		}
	}
}

// background runs a consumer until ctx is done and returns where its error
// will arrive.
func background(ctx context.Context, cfg consumer.Config) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := consumer.Run(ctx, cfg)
		done <- err
	}()
	return done
}
