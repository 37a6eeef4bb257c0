package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/stream"
	"github.com/segmerge/segmerge/stream/feed"
)

// streamLatency measures segmerge stream's emit latency: a following
// `segmerge stream --by timestamp --out-file F` over a fresh topic of
// w.Partitions partitions, while this process writes records of about
// w.StreamBytes round robin over them at a steady w.StreamRate a second
// (no linger) for w.StreamSeconds (Config.Batches, if set, is the count),
// after a warm-up. A record's key is its timestamp, which the producing
// client stamps as it takes the record; its latency runs from that stamp
// to the moment its line is in F (read every millisecond). The stream
// runs with --idle-timeout none: a record goes out once every partition
// holds a later one, and none is ever late, however the machine's load
// delays one partition's fetch against another's. So that the last
// records go out, a closing round of one record a partition follows the
// warm-up and the measured ones, and is not measured. The file must hold
// every record before the last round once, in the order of (timestamp,
// partition, offset).
func (r *runner) streamLatency(ctx context.Context, w Workload) (LatencyResult, error) {
	cfg := r.cfg
	name := w.Name + "-latency"
	topic := "segmerge-bench-" + name + r.suffix
	file := filepath.Join(cfg.OutDir, name+".jsonl")
	defer r.drop(topic, []string{topic})
	n := int64(w.StreamRate * w.StreamSeconds)
	if cfg.Batches > 0 {
		n = cfg.Batches
	}
	parts := int64(w.Partitions)
	// seq: the warm-up, a closing round, the measured records, a last
	// closing round.
	from := warmBatches + parts
	limit, total := from+n, from+n+parts
	row := LatencyResult{Workload: w.Name, Mode: "by timestamp", Rate: w.StreamRate, Sink: SinkFile,
		CommitInterval: stream.DefaultConfig().CommitInterval.String()}
	if err := r.createTopic(ctx, topic, w.Partitions); err != nil {
		return row, err
	}
	r.n++
	args := append([]string{"stream", "-b", strings.Join(cfg.Brokers, ","), "-t", topic, "-g", topic, "--by", "timestamp",
		"--idle-timeout", "none", "--from-beginning", "--out-file", file, "-q"}, cfg.ClientArgs...)
	c, err := startChild(ctx, cfg.Exe, filepath.Join(r.tmp, fmt.Sprintf("stats-%d.json", r.n)), args...)
	if err != nil {
		return row, err
	}
	defer func() {
		if c != nil { // not stopped: a failure
			c.interrupt()
			c.wait()
		}
	}()
	if err := r.waitAssigned(ctx, topic, w.Partitions, c); err != nil {
		return row, err
	}
	cl, err := kafka.Cluster{Brokers: cfg.Brokers, Opts: cfg.ClientOpts}.Client(kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return row, err
	}
	defer cl.Close()

	sink := newSeen(SinkFile, limit) // the last round is not waited for
	rctx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	var wg sync.WaitGroup
	var tailErr error
	wg.Go(func() { tailErr = tailFile(rctx, file, sink, lineSeq) })
	f := &seqFeed{cl: cl, rate: w.StreamRate, parts: parts, stamps: make([]time.Time, total),
		pad: strings.Repeat("x", max(w.StreamBytes-len(`{"seq":1000000,"pad":""}`), 0))}
	stamps := f.stamps
	produce := func(from, to int64) error { return f.produce(ctx, from, to) }
	// A closing round: stamped at least a millisecond after the records
	// before it (the client stamps to the millisecond), so that on every
	// partition a record sorts after each of them.
	closing := func(at int64) error {
		time.Sleep(2 * time.Millisecond)
		return produce(at, at+parts)
	}
	err = produce(0, warmBatches)
	if err == nil {
		err = closing(warmBatches)
	}
	if err == nil {
		err = awaitSeen(ctx, []*seen{sink}, warmBatches)
	}
	if err == nil {
		cfg.Log.Info("producing at a steady rate", "workload", w.Name, "records/s", w.StreamRate, "records", n)
		err = produce(from, limit)
	}
	if err == nil {
		err = closing(limit)
	}
	if err == nil {
		err = awaitSeen(ctx, []*seen{sink}, limit)
	}
	stopTail()
	wg.Wait()
	if err != nil {
		return row, fmt.Errorf("bench: %s: %w; segmerge stream's output ends:\n%s", name, err, c.out.String())
	}
	if tailErr != nil && !errors.Is(tailErr, context.Canceled) {
		return row, fmt.Errorf("bench: read %s: %w", file, tailErr)
	}
	stopped := c
	c = nil
	stopped.interrupt()
	if _, err := stopped.wait(); err != nil {
		return row, fmt.Errorf("bench: %w", err)
	}
	row.judge(sink, stamps, from, limit, file, parts)
	if !r.keep {
		os.Remove(file)
	}
	cfg.Log.Info("stream latency measured", "workload", w.Name, "records/s", w.StreamRate, "verified", row.Verified,
		"p50_p99_max_ms", fmt.Sprintf("%.1f/%.1f/%.1f", row.P50, row.P99, row.Max))
	return row, nil
}

// cmp keeps the first error.
func cmp(have, err error) error {
	if have != nil {
		return have
	}
	return err
}

// lineSeq returns the seq of a streamLatency record's line.
func lineSeq(line []byte) (int64, bool) { return leadingInt(line, `{"seq":`) }

// inStreamOrder checks that the file holds every record of stamps once
// (and others only after them), in the stream's order: by timestamp (to
// the millisecond, as Kafka keeps it), then partition (seq mod parts),
// then offset (seq order within a partition).
func inStreamOrder(path string, stamps []time.Time, parts int64) error {
	want := make([]int64, len(stamps))
	for i := range want {
		want[i] = int64(i)
	}
	slices.SortFunc(want, func(a, b int64) int {
		if c := stamps[a].Compare(stamps[b]); c != 0 {
			return c
		}
		if c := (a % parts) - (b % parts); c != 0 {
			return int(c)
		}
		return int(a - b)
	})
	var got []int64
	err := feed.EachLine(path, func(line []byte) {
		if n, ok := lineSeq(line); ok && n < int64(len(stamps)) {
			got = append(got, n)
		}
	})
	if err != nil {
		return err
	}
	if len(got) != len(want) {
		return fmt.Errorf("the file holds %d records of the %d written", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("line %d holds record %d, where the stream's order puts record %d", i+1, got[i], want[i])
		}
	}
	return nil
}

// seqFeed writes the records of streamLatency: record i, {"seq":i,...},
// on partition i mod parts, at a steady rate, noting its stamp.
type seqFeed struct {
	cl     *kgo.Client
	rate   float64
	parts  int64
	pad    string
	stamps []time.Time // by seq
}

// produce writes records from..to-1 at the feed's rate and waits until
// they are acknowledged.
func (f *seqFeed) produce(ctx context.Context, from, to int64) error {
	start := time.Now()
	var perr error
	var mu sync.Mutex
	for i := from; i < to && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(float64(i-from) / f.rate * float64(time.Second)))); wait > 0 {
			time.Sleep(wait)
		}
		rec := &kgo.Record{Partition: int32(i % f.parts), Value: fmt.Appendf(nil, `{"seq":%d,"pad":"%s"}`, i, f.pad)}
		f.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			mu.Lock()
			perr = cmp(perr, err)
			mu.Unlock()
		})
		f.stamps[i] = rec.Timestamp // stamped as Produce takes it
	}
	if err := f.cl.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return perr
}

// judge sets the row's figures from the records from..limit-1 that sink
// saw, and whether the file holds every record below limit in the
// stream's order.
func (row *LatencyResult) judge(sink *seen, stamps []time.Time, from, limit int64, file string, parts int64) {
	row.fill(sink, stamps[from:limit], from)
	if m := stamps[from:limit]; len(m) > 1 {
		row.Achieved = float64(len(m)-1) / m[len(m)-1].Sub(m[0]).Seconds()
	}
	row.Verified, row.Problem = true, ""
	if err := inStreamOrder(file, stamps[:limit], parts); err != nil {
		row.Verified, row.Problem = false, err.Error()
	}
}
