// Package producer writes batches of sorted random segments to a Kafka topic,
// as the original take-home's producer did, plus what a real run needs:
// reproducible data from a seed, batch ids that continue after the topic's
// highest, chunked segments, a log of every record written, and delivery
// errors that fail the run instead of vanishing.
package producer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/gen"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/setting"
	"github.com/segmerge/segmerge/metrics"
	"github.com/segmerge/segmerge/wire"
)

// Layouts of a batch over partitions (see package wire).
const (
	LayoutSegment = wire.LayoutSegment // segment s on partition s mod P
	LayoutBatch   = wire.LayoutBatch   // batch b on partition b mod P, keyed by b
)

// Config is a producer run; start from DefaultConfig. Validate's errors
// name the field at fault.
type Config struct {
	Brokers []string
	// ClientOpts are franz-go options the run's client takes after
	// segmerge's own: TLS, SASL, tunables.
	ClientOpts []kgo.Opt
	Topic      string // default "segment-topic"
	Partitions int32  // for a topic it creates; default 10
	Recreate   bool   // delete and recreate the topic first
	Batches    int64  // batches to write; 0 until ctx is done
	Interval   time.Duration
	// Rate, if not 0, paces the run at Rate batches a second on a clock
	// of its own: batch i of the run is written no sooner than i/Rate
	// seconds after the first, and a run that fell behind catches up
	// without pausing. Not with Interval.
	Rate float64
	// Produced, if set, is called after each batch's records are handed
	// to the client, with the batch's id and its last record's timestamp
	// (which the client stamps, to the millisecond, as it takes the
	// record). It runs on the producing goroutine: keep it short.
	Produced  func(batch int64, last time.Time)
	Segments  int   // per batch; default 10
	MinLen    int   // default 10
	MaxLen    int   // default 20
	MinValue  int64 // default 1
	MaxValue  int64 // default 10
	Seed      uint64
	Layout    string // LayoutSegment (default) or LayoutBatch
	ChunkSize int    // integers per record at most; 0: a segment is one record
	// Compression is the codec record batches are compressed with: one of
	// Compressions, or "" for the client's (ClientOpts, as -X
	// compression.type sets it; else snappy, franz-go's default). Default
	// "snappy".
	Compression string
	// InputLog, if set, receives every record written, one JSON value
	// a line, a batch at a time: each batch whole, written as soon as
	// the broker has acknowledged all its records (see the comment at
	// the top of inputlog.go). OpenInputLog opens a file for it.
	InputLog io.Writer
	// Log receives the run's log lines; default none.
	Log *slog.Logger
	// Metrics, if set, counts what the run does as it goes.
	Metrics *metrics.Run
}

// DefaultConfig returns the defaults of the original producer: 10
// partitions, 10 segments of 10..20 values in 1..10, segment layout,
// snappy compression.
func DefaultConfig() Config {
	return Config{
		Topic:       "segment-topic",
		Partitions:  10,
		Segments:    10,
		MinLen:      10,
		MaxLen:      20,
		MinValue:    1,
		MaxValue:    10,
		Layout:      LayoutSegment,
		Compression: "snappy",
	}
}

// Compressions are the codecs Config.Compression may name.
var Compressions = kafka.Compressions

// Spec is the generator spec the run's data comes from: with the seed and
// the batch ids it determines every value written, whatever the chunk size,
// so a checker can regenerate the input instead of reading it back.
func (c *Config) Spec() gen.Spec {
	return gen.Spec{Segments: c.Segments, MinLen: c.MinLen, MaxLen: c.MaxLen,
		MinValue: c.MinValue, MaxValue: c.MaxValue, Seed: c.Seed}
}

// Validate rejects settings that make no sense, naming the flag at fault.
func (c *Config) Validate() error {
	switch {
	case c.Partitions < 1:
		return setting.Invalid("Partitions", c.Partitions, "must be >= 1")
	case c.Batches < 0:
		return setting.Invalid("Batches", c.Batches, "must be >= 0 (0 runs until stopped)")
	case c.Interval < 0:
		return setting.Invalid("Interval", c.Interval, "must be >= 0")
	case !(c.Rate >= 0) || c.Rate > 1e7:
		return setting.Invalid("Rate", c.Rate, "must be from 0 (no pacing) to 10,000,000 batches a second")
	case c.Rate > 0 && c.Interval > 0:
		return setting.Invalid("Rate", c.Rate, "cannot be set with {Interval}: give one")
	case c.Segments < 1:
		return setting.Invalid("Segments", c.Segments, "must be >= 1")
	case c.MinLen < 0:
		return setting.Invalid("MinLen", c.MinLen, "must be >= 0")
	case c.MaxLen < c.MinLen:
		return setting.Invalid("MaxLen", c.MaxLen, "must be >= {MinLen} %d", c.MinLen)
	case c.MaxValue < c.MinValue:
		return setting.Invalid("MaxValue", c.MaxValue, "must be >= {MinValue} %d", c.MinValue)
	case c.Layout != LayoutSegment && c.Layout != LayoutBatch:
		return setting.Invalid("Layout", c.Layout, "must be segment or batch")
	case c.ChunkSize < 0:
		return setting.Invalid("ChunkSize", c.ChunkSize, "must be >= 0 (0 writes a segment as one record)")
	case c.Topic == "":
		return setting.Invalid("Topic", "", "must not be empty")
	}
	if _, ok := Compressions[c.Compression]; !ok && c.Compression != "" {
		return setting.Invalid("Compression", c.Compression, "must be none, gzip, snappy, lz4 or zstd")
	}
	return nil
}

// Stats is what a run wrote.
type Stats struct {
	FirstBatch int64 // id of the first batch written
	Batches    int64
	Records    int64
	Integers   int64
	Bytes      int64
	Elapsed    time.Duration
}

// Run writes batches until cfg.Batches are written or ctx is done, then
// waits for every record to be acknowledged. A batch is always written
// whole: cancelling ctx stops before the next batch. Any delivery failure
// makes Run return an error, after flushing what it can.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = new(metrics.Run)
	}
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	cluster := kafka.Cluster{Brokers: cfg.Brokers, Opts: cfg.ClientOpts}
	opts := []kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(time.Minute),
		kgo.DefaultProduceTopic(cfg.Topic),
	}
	if cfg.Compression != "" {
		opts = append(opts, kgo.ProducerBatchCompression(Compressions[cfg.Compression]))
	}
	cl, err := cluster.Defaults(kgo.ProducerLinger(kafka.Linger)).Client(opts...)
	if err != nil {
		return Stats{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	parts, created, err := kafka.EnsureTopic(ctx, adm, cfg.Log, cfg.Topic, cfg.Partitions, cfg.Recreate)
	if err != nil {
		return Stats{}, err
	}
	first := int64(0) // a new topic is empty
	if !created {
		if first, err = nextBatchID(ctx, cluster, adm, cfg.Topic); err != nil {
			return Stats{}, err
		}
	}
	if parts != cfg.Partitions {
		cfg.Log.Info("topic exists with another partition count; using it", "topic", cfg.Topic, "partitions", parts)
	}
	if first > 0 {
		cfg.Log.Info("continuing after the topic's highest batch id", "first_batch", first)
	}

	p := &run{cfg: cfg, cl: cl, parts: parts, st: Stats{FirstBatch: first}}
	if cfg.InputLog != nil {
		p.log = startLog(cfg.InputLog, p.fail)
	}
	start := time.Now()
	err = p.produce(ctx, first)
	// Flush even when stopped: what was handed to the client is delivered
	// (or fails) before we say what was written.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if ferr := cl.Flush(fctx); ferr != nil && err == nil {
		err = fmt.Errorf("flush: %w", ferr)
	}
	if p.log != nil && p.log.close() == nil {
		if lerr := syncLog(cfg.InputLog); lerr != nil {
			p.fail(fmt.Errorf("sync input log: %w", lerr))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		err = p.failed
	}
	p.st.Elapsed = time.Since(start)
	return p.st, err
}

type run struct {
	cfg   Config
	cl    *kgo.Client
	parts int32

	log *inputLog // or nil; see inputlog.go

	mu     sync.Mutex // guards what promises touch
	st     Stats
	failed error
}

func (p *run) produce(ctx context.Context, first int64) error {
	spec := p.cfg.Spec()
	var (
		lens  []int
		gs    []gen.Segment
		chunk []int64
	)
	paced := time.Now()
	for b := first; p.cfg.Batches == 0 || b < first+p.cfg.Batches; b++ {
		if p.cfg.Rate > 0 {
			due := paced.Add(time.Duration(float64(b-first) / p.cfg.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				sleep(ctx, wait)
			}
		}
		if ctx.Err() != nil {
			return nil // stopped between batches: a clean stop
		}
		if err := p.err(); err != nil {
			return err
		}
		lens = spec.Batch(b, lens)
		gs = slices.Grow(gs[:0], len(lens))[:len(lens)]
		for s, n := range lens {
			gs[s].Reset(spec, b, int64(s), n)
		}
		var bl *batchLog
		if p.log != nil {
			bl = new(batchLog)
		}
		records := 0
		var last *kgo.Record
		// Chunks go round robin over the segments (chunk 0 of each, then
		// chunk 1, ...): a consumer merging a huge batch as it arrives
		// needs every segment's next chunk at about the same time, and in
		// the batch layout they share one partition.
		for c, left := int64(0), len(lens); left > 0; c++ {
			for s, n := range lens {
				g := &gs[s]
				if c > 0 && g.Left() == 0 {
					continue // this segment ended in an earlier round
				}
				max := n
				if p.cfg.ChunkSize > 0 {
					max = p.cfg.ChunkSize
				}
				chunk = g.Fill(chunk[:0], max)
				seg := wire.Segment{BatchID: b, SegmentID: int64(s), Chunk: c, Last: g.Left() == 0, Data: chunk}
				r := &kgo.Record{Value: wire.AppendSegment(nil, &seg)}
				if p.cfg.Layout == LayoutBatch {
					r.Key = strconv.AppendInt(nil, b, 10)
					r.Partition = int32(b % int64(p.parts))
				} else {
					r.Partition = int32(int64(s) % int64(p.parts))
				}
				ints := int64(len(chunk))
				// Produce blocks when the client's buffer is full:
				// memory is bounded by its limits, not by the run.
				p.cl.Produce(context.WithoutCancel(ctx), r, func(r *kgo.Record, err error) { p.acked(r, bl, ints, err) })
				records++
				last = r
				if seg.Last {
					left--
				}
			}
		}
		if bl != nil {
			p.logProduced(bl, records)
		}
		if p.cfg.Produced != nil && last != nil {
			p.cfg.Produced(b, last.Timestamp)
		}
		p.cfg.Metrics.Batches.Add(1)
		p.mu.Lock()
		p.st.Batches++
		p.mu.Unlock()
		if p.cfg.Interval > 0 {
			sleep(ctx, p.cfg.Interval)
		}
	}
	return nil
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// fail makes err the run's error, unless it has one.
func (p *run) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed == nil {
		p.failed = err
	}
}

func (p *run) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// acked takes the outcome of producing r, one of batch b's records (b is
// nil without an input log).
func (p *run) acked(r *kgo.Record, b *batchLog, ints int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if p.failed == nil {
			p.failed = fmt.Errorf("deliver record to %s partition %d: %w", r.Topic, r.Partition, err)
			p.cfg.Log.Error("delivery failed", "topic", r.Topic, "partition", r.Partition, "err", err)
		}
		return
	}
	p.st.Records++
	p.st.Integers += ints
	p.st.Bytes += int64(len(r.Value))
	p.cfg.Metrics.Records.Add(1)
	p.cfg.Metrics.Integers.Add(ints)
	if b != nil {
		p.logAcked(b, r.Value)
	}
}

// nextBatchID returns one more than the highest batch id among the last
// records of topic's partitions, or 0 for an empty topic, so that a
// restarted producer never reuses an id. A last record that does not decode
// is skipped with its partition.
func nextBatchID(ctx context.Context, cluster kafka.Cluster, adm *kadm.Client, topic string) (int64, error) {
	starts, err := kafka.StartOffsets(ctx, adm, topic)
	if err != nil {
		return 0, err
	}
	ends, err := kafka.EndOffsets(ctx, adm, topic)
	if err != nil {
		return 0, err
	}
	want := map[int32]kgo.Offset{}
	for p, end := range ends {
		if end > starts[p] {
			want[p] = kgo.NewOffset().At(end - 1)
		}
	}
	if len(want) == 0 {
		return 0, nil
	}
	rd, err := cluster.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}))
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	next := int64(0)
	var dec wire.Decoder
	var seg wire.Segment
	for seen := map[int32]bool{}; len(seen) < len(want); {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("read the last record of %s: %w", topic, err)
		}
		fs.EachError(func(_ string, p int32, err error) { seen[p] = true })
		fs.EachRecord(func(r *kgo.Record) {
			if seen[r.Partition] {
				return
			}
			seen[r.Partition] = true
			if dec.Decode(r.Value, &seg) == nil && seg.BatchID >= next {
				next = seg.BatchID + 1
			}
		})
	}
	return next, nil
}
