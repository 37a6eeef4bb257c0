package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/cmd/segmerge/internal/bench"
)

// rawClient is a client of the cluster at addr that writes records to the
// partition each names.
func rawClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addr, ",")...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// readTopic reads every committed record of topic (read_committed) until
// a quiet two seconds.
func readTopic(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	rd, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addr, ",")...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := rd.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			return out
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
}

func mustExit(t *testing.T, p *proc, d time.Duration, want int) {
	t.Helper()
	if code := p.wait(t, d); code != want {
		t.Fatalf("%v: exit %d, want %d\n%s", p.cmd.Args[1:], code, want, p.stderr.String())
	}
}

// Item 1 of the hostile-input issue, as a figure: 3,000 records that each
// claim 65,536 segments, between 1,000 good batches, against a consumer at
// --memory 128MiB in a process of its own (built without -race: see
// measured). Its peak RSS stays within the budget, every good batch
// verifies, every hostile record is dead-lettered, and no line of its log
// is longer than 1 KiB.
func TestHostileClaimsStayWithinTheBudget(t *testing.T) {
	dir := t.TempDir()
	_, addr := brokerProc(t, filepath.Join(dir, "data"))
	input := filepath.Join(dir, "input.jsonl")
	mustExit(t, start(t, nil, "produce", "-b", addr, "--batches", "500", "--input-log", input, "-q"), time.Minute, 0)
	cl := rawClient(t, addr)
	const hostile = 3000
	var recs []*kgo.Record
	for i := range int64(hostile) {
		v := fmt.Sprintf(`{"batch_id":%d,"segment_id":0,"segments":65536,"data":[1]}`, 500+i)
		recs = append(recs, &kgo.Record{Topic: "segment-topic", Partition: 0, Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	mustExit(t, start(t, nil, "produce", "-b", addr, "--batches", "500", "--input-log", input, "-q"), time.Minute, 0)

	out, stats := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "stats.json")
	c := startBin(t, measured(t), nil, "consume", "-b", addr, "-e", "--from-beginning", "--memory", "128MiB", "--out-file", out, "--stats-file", stats)
	mustExit(t, c, 2*time.Minute, 0)
	var st bench.ChildReport
	b, _ := os.ReadFile(stats)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("consumer at --memory 128MiB: peak RSS %.1f MiB, %d batches", float64(st.PeakRSS)/(1<<20), st.Batches)
	if st.PeakRSS > 128<<20 {
		t.Errorf("peak RSS %.1f MiB passed --memory 128MiB", float64(st.PeakRSS)/(1<<20))
	}
	mustExit(t, start(t, nil, "verify", "--input-log", input, "--out-file", out), time.Minute, 0)
	if st.Batches != 1000 {
		t.Fatalf("%d batches written, want the 1000 good ones", st.Batches)
	}
	if dead := readTopic(t, addr, "segment-topic.dlq"); len(dead) != hostile {
		t.Fatalf("%d dead letters, want the %d hostile records", len(dead), hostile)
	}
	for _, l := range strings.Split(c.stderr.String(), "\n") {
		if len(l) > 1<<10 {
			t.Fatalf("a log line of %d bytes: %.200s...", len(l), l)
		}
	}
}

// A topic deleted and created again (produce --recreate) under a running
// consumer stops it with a message that says so, in bounded time and with
// a bounded log, exit 1. Started again on the same file, the consumer
// refuses it (it holds the old topic's batches), naming --overwrite; with
// --overwrite it reads the new topic whole (the broker dropped the group's
// commits with the old topic).
func TestRecreatedTopicStopsTheConsumer(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	dir := t.TempDir()
	_, addr := brokerProc(t, filepath.Join(dir, "data"))
	out := filepath.Join(dir, "out.jsonl")
	mustExit(t, start(t, nil, "produce", "-b", addr, "--batches", "100", "-q"), time.Minute, 0)
	c := start(t, nil, "consume", "-b", addr, "--from-beginning", "--out-file", out, "--commit-interval", "100ms")
	waitLines(t, out, 100, c)
	input := filepath.Join(dir, "input.jsonl")
	mustExit(t, start(t, nil, "produce", "-b", addr, "--recreate", "--batches", "100", "--input-log", input, "-q"), time.Minute, 0)
	stopped := time.Now()
	mustExit(t, c, 30*time.Second, 1)
	t.Logf("the consumer stopped %v after the topic was recreated", time.Since(stopped).Round(100*time.Millisecond))
	errs := c.stderr.String()
	if !strings.Contains(errs, "deleted and created again") && !strings.Contains(errs, "was deleted while this run read it") {
		t.Fatalf("the consumer did not say the topic was recreated:\n%s", errs)
	}
	if n := strings.Count(errs, "\n"); n > 40 {
		t.Fatalf("the consumer logged %d lines about it:\n%.3000s", n, errs)
	}
	again := start(t, nil, "consume", "-b", addr, "-e", "--from-beginning", "--out-file", out)
	mustExit(t, again, 30*time.Second, 2)
	if !strings.Contains(again.stderr.String(), "--overwrite") {
		t.Fatalf("the old file taken for the new topic:\n%s", again.stderr.String())
	}
	mustExit(t, start(t, nil, "consume", "-b", addr, "-e", "--from-beginning", "--out-file", out, "--overwrite"), time.Minute, 0)
	mustExit(t, start(t, nil, "verify", "--input-log", input, "--out-file", out), time.Minute, 0)
}

// A consumer writing an output topic lives through a 30-second broker
// outage (the broker SIGKILLed, and started again on its data dir) and goes
// on, exactly once: once it has committed every input record, the file and
// a read_committed read of the topic hold every batch once. The outage
// comes while it is idle, everything so far committed, so that nothing it
// writes runs into it: its readiness check must still fail, from its
// client's unanswered requests. (A broker killed inside one of its
// transactions is crash_test's killBrokerUnder.)
func TestOutputTopicConsumerRidesOutABrokerOutage(t *testing.T) {
	// Not parallel: it restarts a broker on the ports it was killed on
	// (see TestMain).
	if testing.Short() {
		t.Skip("a 30s outage")
	}
	dir := t.TempDir()
	listen, data := freeListen(t), filepath.Join(dir, "data")
	br := startBroker(t, listen, data)
	input, out := filepath.Join(dir, "input.jsonl"), filepath.Join(dir, "out.jsonl")
	mustExit(t, start(t, nil, "produce", "-b", listen, "--batches", "300", "--input-log", input, "-q"), time.Minute, 0)
	c := start(t, nil, "consume", "-b", listen, "--from-beginning", "--out-file", out, "--output-topic", "merged", "--commit-interval", "100ms",
		"--metrics-addr", "127.0.0.1:0")
	base := metricsURL(t, c)
	waitLines(t, out, 300, c)
	watch := newGroupWatch(t, strings.Split(listen, ","), "segmerge", "segment-topic")
	watch.waitCommitted(300*10, c)
	br.kill(t)
	time.Sleep(20 * time.Second) // the outage itself
	// Alive, but not ready, and saying why.
	ready, why := get(base, "/readyz")
	live, _ := get(base, "/healthz")
	t.Logf("20s into the outage: /readyz %d %q, /healthz %d", ready, why, live)
	if ready != 503 || live != 200 {
		t.Errorf("20s into the outage: /readyz %d %q, /healthz %d; want 503 with a reason, and 200", ready, why, live)
	}
	time.Sleep(10 * time.Second)
	br = startBroker(t, listen, data)
	mustExit(t, start(t, nil, "produce", "-b", listen, "--batches", "300", "--input-log", input, "-q"), time.Minute, 0)
	waitLines(t, out, 600, c)
	// A line in the file is not yet a commit: the outage may have come
	// before the first one, and a stop aborts the open transaction when
	// the group session is not back yet (the next run redoes it). Stop
	// once every input record is committed.
	watch.waitCommitted(2*300*10, c)
	if code := c.interrupt(t); code != 0 {
		t.Fatalf("the consumer after the outage: exit %d\n%s", code, c.stderr.String())
	}
	mustExit(t, start(t, nil, "verify", "--input-log", input, "--out-file", out), time.Minute, 0)
	mustExit(t, start(t, nil, "verify", "--input-log", input, "-b", listen, "--output-topic", "merged"), time.Minute, 0)
	if code := br.interrupt(t); code != 0 {
		t.Fatalf("broker: exit %d", code)
	}
}

// Partitions spread over three brokers arrive unevenly, and a small budget
// pauses the ones ahead while what they fetched is still assembled: every
// batch is written all the same, none refused for memory (a bound on
// pending batches once dead-lettered most of them here).
func TestUnevenPartitionsLoseNoBatch(t *testing.T) {
	dir := t.TempDir()
	_, addr := brokerProc(t, filepath.Join(dir, "data"))
	input, out := filepath.Join(dir, "input.jsonl"), filepath.Join(dir, "out.jsonl")
	mustExit(t, start(t, nil, "produce", "-b", addr, "--batches", "20000", "--input-log", input, "-q"), time.Minute, 0)
	c := start(t, nil, "consume", "-b", addr, "--mode", "concurrent", "--memory", "64MiB", "-e", "--from-beginning",
		"--out-file", out, "-q")
	mustExit(t, c, 3*time.Minute, 0)
	if !strings.Contains(c.stderr.String(), "(0 bad records") {
		t.Fatalf("good records refused:\n%.3000s", c.stderr.String())
	}
	mustExit(t, start(t, nil, "verify", "--input-log", input, "--out-file", out), time.Minute, 0)
}
