package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/verify"
	"github.com/segmerge/segmerge/wire"
)

// # How latency is measured
//
// A latency workload (Workload.Rates) runs a following consumer, `segmerge
// consume --out-file F --output-topic OUT`, over a fresh topic, waits until
// its group has assigned it every partition, and then produces at a steady
// rate (producer.Config.Rate, with no linger, from this process) for
// Workload.Seconds. For every batch it takes the timestamp of the batch's
// last record, as the producing client stamped it (to the millisecond),
// and the moment this process first saw the batch:
//
//   - file: its line in F, which a reader polls every millisecond for
//     whole lines;
//   - topic: its record in OUT, read with read_committed, so only once the
//     transaction holding it is committed;
//   - follower: its last segment, read by a plain franz-go client of the
//     input topic with no group, no transaction and no merge: the floor
//     any consumer on this machine and broker starts from.
//
// All three readers run in this process, beside the producer and the
// embedded broker, while the consumer runs: on a small machine they share
// its cores. Each row gives the p50, p99, p99.9 and max of one sink's
// latencies; the consumer is then stopped (Ctrl+C) and F and OUT are
// verified against the data produced.

// LatencyResult is one sink of one latency run: a rate in one mode.
type LatencyResult struct {
	Workload string `json:"workload"`
	Mode     string `json:"mode"`
	// Rate is the rate asked for, in batches a second; Achieved the rate
	// the producer kept, from its first batch's stamp to its last's.
	Rate     float64 `json:"rate"`
	Achieved float64 `json:"achieved_rate"`
	Sink     string  `json:"sink"` // "file", "topic" or "follower"
	// CommitInterval is the consumer's --commit-interval.
	CommitInterval string  `json:"commit_interval"`
	Batches        int64   `json:"batches"` // seen by this sink's reader (records, for stream)
	P50            float64 `json:"p50_ms"`
	P99            float64 `json:"p99_ms"`
	P999           float64 `json:"p999_ms"`
	Max            float64 `json:"max_ms"`
	// Verified says the consumer's output (its file and its topic: the
	// follower row carries the run's verdict too) held every batch
	// produced, once, equal to its input; Problem says why not.
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
}

// Latency sinks.
const (
	SinkFile     = "file"
	SinkTopic    = "topic"
	SinkFollower = "follower"
)

// seen records, per batch (indexed from the run's first batch), when a
// reader first saw it.
type seen struct {
	mu   sync.Mutex
	at   []time.Time
	n    int64
	name string
}

func newSeen(name string, batches int64) *seen {
	return &seen{at: make([]time.Time, batches), name: name}
}

// mark notes batch i (of the run) seen now, if it is one of the run's and
// not seen before.
func (s *seen) mark(i int64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= int64(len(s.at)) || !s.at[i].IsZero() {
		return
	}
	s.at[i] = now
	s.n++
}

// warmBatches are produced, and seen in every sink, before the measured
// batches.
const warmBatches = 20

// awaitSeen waits until every sink has seen n batches, or a minute.
func awaitSeen(ctx context.Context, sinks []*seen, n int64) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		var short []string
		for _, s := range sinks {
			if got := s.count(); got < n {
				short = append(short, fmt.Sprintf("%s saw %d of %d", s.name, got, n))
			}
		}
		if len(short) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after a minute the %s", strings.Join(short, ", the "))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// count is how many batches s has seen.
func (s *seen) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// latencyRun is one latency run: a workload at one rate in one mode.
type latencyRun struct {
	r                *runner
	w                Workload
	mode             string
	rate             float64
	name, topic, out string
	file             string
	batches, total   int64 // measured; with the warm-up
	pc               producer.Config
	c                *child // the consumer
	commit           string // its --commit-interval
	sinks            []*seen
	stamps           []time.Time // by batch id
}

// latencies runs latency workload w at each rate in each mode.
func (r *runner) latencies(ctx context.Context, w Workload) error {
	rates := w.Rates
	if len(r.cfg.Rates) > 0 {
		rates = r.cfg.Rates
	}
	for _, mode := range r.cfg.Modes {
		for _, rate := range rates {
			rows, err := r.latency(ctx, w, mode, rate)
			if err != nil {
				return err
			}
			r.rep.Latency = append(r.rep.Latency, rows...)
		}
	}
	return nil
}

// latency runs workload w in mode at rate and returns its rows.
func (r *runner) latency(ctx context.Context, w Workload, mode string, rate float64) ([]LatencyResult, error) {
	name := fmt.Sprintf("%s-%s-%g", w.Name, mode, rate)
	l := &latencyRun{r: r, w: w, mode: mode, rate: rate, name: name,
		topic: "segmerge-bench-" + name + r.suffix, file: filepath.Join(r.cfg.OutDir, name+".jsonl")}
	l.out = l.topic + "-out"
	l.batches = int64(rate * w.Seconds)
	if r.cfg.Batches > 0 {
		l.batches = r.cfg.Batches
	}
	// The topic is new, so the producer's batches are 0 onwards: the
	// warm-up's, then the measured ones. A batch's id is its index.
	l.total = warmBatches + l.batches
	l.sinks = []*seen{newSeen(SinkFollower, l.total), newSeen(SinkFile, l.total), newSeen(SinkTopic, l.total)}
	l.stamps = make([]time.Time, l.total)
	defer r.drop(l.topic, []string{l.topic})
	defer r.dropTopics(l.out)
	if err := l.start(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if l.c != nil { // not stopped: a failure
			l.c.interrupt()
			l.c.wait()
		}
	}()
	if err := l.measure(ctx); err != nil {
		return nil, err
	}
	c := l.c
	l.c = nil
	c.interrupt()
	if _, err := c.wait(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return l.rows(ctx)
}

// start creates the topic and starts the consumer, and returns once its
// group has assigned it every partition.
func (l *latencyRun) start(ctx context.Context) error {
	cfg, w := l.r.cfg, l.w
	pc := producer.DefaultConfig()
	pc.Brokers, pc.Topic, pc.Partitions, pc.Rate, pc.Seed = cfg.Brokers, l.topic, w.Partitions, l.rate, 1
	pc.Segments, pc.MinLen, pc.MaxLen, pc.MinValue, pc.MaxValue = w.Segments, w.MinLen, w.MaxLen, w.MinValue, w.MaxValue
	pc.Layout, pc.Compression = w.Layout, cfg.Compression
	// No linger: a batch's records leave as they are produced, so the
	// latency is the pipeline's, not the producer's batching.
	pc.ClientOpts = append(slices.Clone(cfg.ClientOpts), kgo.ProducerLinger(0))
	pc.Produced = func(b int64, at time.Time) {
		if b >= 0 && b < l.total {
			l.stamps[b] = at
		}
	}
	if err := pc.Validate(); err != nil {
		return fmt.Errorf("bench: workload %s: %w", w.Name, err)
	}
	l.pc = pc
	if err := l.r.createTopic(ctx, l.topic, pc.Partitions); err != nil {
		return err
	}
	l.commit = consumer.DefaultConfig().CommitInterval.String()
	args := []string{"consume", "-b", strings.Join(cfg.Brokers, ","), "-t", l.topic, "-g", l.topic, "--mode", l.mode,
		"--from-beginning", "--out-file", l.file, "--overwrite", "--output-topic", l.out, "-q"}
	extra := append(append(slices.Clone(w.ConsumeArgs), cfg.ConsumeArgs...), cfg.ClientArgs...)
	if v, ok := flagValue(extra, "--commit-interval"); ok {
		l.commit = v
	}
	l.r.n++
	c, err := startChild(ctx, cfg.Exe, filepath.Join(l.r.tmp, fmt.Sprintf("stats-%d.json", l.r.n)), append(args, extra...)...)
	if err != nil {
		return err
	}
	l.c = c
	return l.r.waitAssigned(ctx, l.topic, pc.Partitions, c)
}

// measure runs the readers, the warm-up and the measured batches, and
// waits (a minute at most) until every reader has seen every batch.
func (l *latencyRun) measure(ctx context.Context) error {
	// The readers start before the producer and end when the run does.
	rctx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { errs[0] = l.r.follow(rctx, l.topic, int64(l.pc.Segments), l.sinks[0]) })
	wg.Go(func() { errs[1] = tailFile(rctx, l.file, l.sinks[1], lineBatch) })
	wg.Go(func() { errs[2] = l.r.readCommitted(rctx, l.out, l.sinks[2]) })
	err := l.produce(ctx)
	stopReaders()
	wg.Wait()
	if err != nil {
		return err
	}
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("bench: %s reader of %s: %w", l.sinks[i].name, l.name, err)
		}
	}
	return nil
}

// produce writes the warm-up, waits until it is in every sink (until
// then the consumer is still starting: positioning its partitions,
// beginning its first transaction), then writes the measured batches and
// waits for them.
func (l *latencyRun) produce(ctx context.Context) error {
	run := func(first, n int64) error {
		l.pc.Batches = n
		pst, err := producer.Run(ctx, l.pc)
		switch {
		case err != nil:
			return fmt.Errorf("bench: produce %s: %w", l.name, err)
		case pst.FirstBatch != first || pst.Batches != n:
			return fmt.Errorf("bench: produce %s: batches %d..%d, want %d..%d", l.name, pst.FirstBatch, pst.FirstBatch+pst.Batches-1, first, first+n-1)
		}
		return nil
	}
	if err := run(0, warmBatches); err != nil {
		return err
	}
	if err := awaitSeen(ctx, l.sinks, warmBatches); err != nil {
		return fmt.Errorf("bench: %s: the warm-up batches: %w; the consumer's output ends:\n%s", l.name, err, l.c.out.String())
	}
	l.r.cfg.Log.Info("producing at a steady rate", "workload", l.w.Name, "mode", l.mode, "rate", l.rate, "batches", l.batches)
	if err := run(warmBatches, l.batches); err != nil {
		return err
	}
	if err := awaitSeen(ctx, l.sinks, l.total); ctx.Err() != nil {
		return ctx.Err()
	} else if err != nil {
		l.r.cfg.Log.Warn("latency run incomplete", "run", l.name, "err", err)
	}
	return nil
}

// rows verifies the consumer's file and topic and returns a row per sink.
func (l *latencyRun) rows(ctx context.Context) ([]LatencyResult, error) {
	cfg := l.r.cfg
	verdict := Result{}
	gen := &verify.Generated{Spec: l.pc.Spec(), First: 0, Batches: l.total}
	for _, vc := range []verify.Config{
		{Generated: gen, Segments: int64(l.w.Segments), OutFile: l.file},
		{Generated: gen, Segments: int64(l.w.Segments), Brokers: cfg.Brokers, ClientOpts: cfg.ClientOpts, Topic: l.out},
	} {
		vr, err := verify.Run(ctx, vc)
		if err != nil {
			return nil, fmt.Errorf("bench: verify %s: %w", l.name, err)
		}
		if verdict.judge(vr, l.total); !verdict.Verified {
			break
		}
	}
	if !l.r.keep {
		os.Remove(l.file)
	}
	measured := l.stamps[warmBatches:]
	achieved := 0.0
	if n := len(measured); n > 1 && !measured[0].IsZero() {
		achieved = float64(n-1) / measured[n-1].Sub(measured[0]).Seconds()
	}
	var rows []LatencyResult
	line := []any{"workload", l.w.Name, "mode", l.mode, "rate", l.rate, "verified", verdict.Verified}
	for _, s := range l.sinks {
		row := LatencyResult{Workload: l.w.Name, Mode: l.mode, Rate: l.rate, Achieved: achieved, Sink: s.name,
			CommitInterval: l.commit, Verified: verdict.Verified, Problem: verdict.Problem}
		row.fill(s, measured, warmBatches)
		if row.Batches < l.batches && row.Verified {
			row.Verified, row.Problem = false, fmt.Sprintf("the %s reader saw %d of %d batches within a minute", s.name, row.Batches, l.batches)
		}
		rows = append(rows, row)
		line = append(line, row.Sink+"_p50_p99_max_ms", fmt.Sprintf("%.1f/%.1f/%.1f", row.P50, row.P99, row.Max))
	}
	cfg.Log.Info("latency measured", line...)
	return rows, nil
}

// fill sets row's count and quantiles from what s saw of the batches from
// index from on, against their stamps.
func (row *LatencyResult) fill(s *seen, stamps []time.Time, from int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ms []float64
	for i, at := range s.at[from:] {
		if at.IsZero() || stamps[i].IsZero() {
			continue
		}
		ms = append(ms, float64(at.Sub(stamps[i]))/float64(time.Millisecond))
	}
	row.Batches = int64(len(ms))
	if len(ms) == 0 {
		return
	}
	slices.Sort(ms)
	q := func(p float64) float64 { return ms[min(len(ms)-1, int(p*float64(len(ms))))] }
	row.P50, row.P99, row.P999, row.Max = q(0.50), q(0.99), q(0.999), ms[len(ms)-1]
}

// flagValue returns the value of the last --name V or --name=V in args.
func flagValue(args []string, name string) (string, bool) {
	v, ok := "", false
	for i, a := range args {
		if a == name && i+1 < len(args) {
			v, ok = args[i+1], true
		} else if s, cut := strings.CutPrefix(a, name+"="); cut {
			v, ok = s, true
		}
	}
	return v, ok
}

// createTopic creates topic with parts partitions, replacing any topic of
// that name (the bench's own: see the package doc).
func (r *runner) createTopic(ctx context.Context, topic string, parts int32) error {
	cl, err := kafka.Cluster{Brokers: r.cfg.Brokers, Opts: r.cfg.ClientOpts}.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, _, err := kafka.EnsureTopic(ctx, kadm.NewClient(cl), r.cfg.Log, topic, parts, true); err != nil {
		return fmt.Errorf("bench: create %s: %w", topic, err)
	}
	return nil
}

// waitAssigned waits until group is stable with every one of the topic's
// parts partitions assigned, or the child c has exited, or a minute.
func (r *runner) waitAssigned(ctx context.Context, group string, parts int32, c *child) error {
	cl, err := kafka.Cluster{Brokers: r.cfg.Brokers, Opts: r.cfg.ClientOpts}.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(time.Minute)
	for {
		gs, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			g := gs[group]
			n := 0
			for _, ps := range g.AssignedPartitions() {
				n += len(ps)
			}
			if g.State == "Stable" && n == int(parts) {
				return nil
			}
		}
		if c.cmd.ProcessState != nil || time.Now().After(deadline) {
			return fmt.Errorf("bench: the consumer of group %s was not assigned %d partitions within a minute; its output ends:\n%s", group, parts, c.out.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// follow reads topic from its start with no group and marks a batch seen
// when its last segment (of segments) arrives.
func (r *runner) follow(ctx context.Context, topic string, segments int64, s *seen) error {
	var d wire.Decoder
	var seg wire.Segment
	ends := map[int64]int64{} // batch id -> last segments seen
	return r.read(ctx, topic, false, func(rec *kgo.Record, now time.Time) {
		if d.Decode(rec.Value, &seg) != nil || !seg.Last {
			return
		}
		if ends[seg.BatchID]++; ends[seg.BatchID] == segments {
			delete(ends, seg.BatchID)
			s.mark(seg.BatchID, now)
		}
	})
}

// readCommitted reads topic with read_committed from its start and marks
// each record's batch (its key) seen.
func (r *runner) readCommitted(ctx context.Context, topic string, s *seen) error {
	return r.read(ctx, topic, true, func(rec *kgo.Record, now time.Time) {
		if id, err := strconv.ParseInt(string(rec.Key), 10, 64); err == nil {
			s.mark(id, now)
		}
	})
}

// read reads topic from its start with no group until ctx is done, giving
// each record to fn with the time its poll returned.
func (r *runner) read(ctx context.Context, topic string, committed bool, fn func(*kgo.Record, time.Time)) error {
	opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10 * time.Millisecond)}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kafka.Cluster{Brokers: r.cfg.Brokers, Opts: r.cfg.ClientOpts}.Client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		now := time.Now()
		fs.EachRecord(func(rec *kgo.Record) { fn(rec, now) })
	}
}

// tailFile polls path every millisecond for whole lines and marks each
// line seen by the index id gives it.
func tailFile(ctx context.Context, path string, s *seen, id func(line []byte) (int64, bool)) error {
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var pending []byte
	buf := make([]byte, 1<<20)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				continue // not created yet
			}
		}
		for {
			n, err := f.Read(buf)
			pending = append(pending, buf[:n]...)
			if err == io.EOF || n == 0 {
				break
			}
			if err != nil {
				return err
			}
		}
		now := time.Now()
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			if n, ok := id(pending[:i]); ok {
				s.mark(n, now)
			}
			pending = pending[i+1:]
		}
		pending = slices.Clip(pending)
	}
}

// lineBatch returns the batch id of a JSON Lines output line.
func lineBatch(line []byte) (int64, bool) { return leadingInt(line, `{"batch_id":`) }

// leadingInt returns the integer a line holds between prefix and the
// first comma after it.
func leadingInt(line []byte, prefix string) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(prefix))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n, err == nil
}

// latencyChecks applies the latency targets: at 1,000 batches a second, a
// batch's line is in the file within 20ms at p99; a batch is visible to a
// read_committed reader of the output topic within the commit interval
// plus 50ms at p99, at every rate.
func latencyChecks(rows []LatencyResult) []Check {
	var out []Check
	for _, row := range rows {
		var max float64
		switch {
		case row.Sink == SinkFile && row.Rate == 1000:
			max = 20
		case row.Sink == SinkTopic:
			d, err := time.ParseDuration(row.CommitInterval)
			if err != nil {
				continue
			}
			max = float64(d+50*time.Millisecond) / float64(time.Millisecond)
		default:
			continue
		}
		out = append(out, Check{
			Workload: row.Workload, Mode: row.Mode,
			Target: fmt.Sprintf("%s p99 at %g/s <= %gms", row.Sink, row.Rate, max),
			Value:  row.P99, Shown: fmt.Sprintf("%.1fms", row.P99), Met: row.P99 <= max,
		})
	}
	return out
}
