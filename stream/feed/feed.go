// Package feed writes what segmerge stream reads: a topic whose partitions
// are each sorted by timestamp, skewed against each other and with gaps,
// as a market-data tape from several feeds or the logs of several hosts
// look. Each record's value is a JSON object {"p":P,"seq":N,"ts":T} and
// its Kafka timestamp is T (milliseconds), so that either key of segmerge
// stream (--by timestamp, --by field:ts) orders it.
//
// The records are written in ascending timestamp over all partitions, so
// that a stream following the topic never finds one late however short
// its idle timeout; each partition's timestamps come from its own seeded
// generator (Lanes), so a seed fixes every value but the first timestamp.
package feed

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/setting"
	"github.com/segmerge/segmerge/metrics"
)

// Config is a feed run; start from DefaultConfig. Validate's errors name
// the field at fault.
type Config struct {
	Brokers []string
	// ClientOpts are franz-go options the run's client takes after
	// segmerge's own.
	ClientOpts []kgo.Opt
	Topic      string // default "stream-topic"
	Partitions int32  // for a topic it creates; default 4
	Recreate   bool   // delete and recreate the topic first
	// Records is how many records each partition gets; 0: until ctx is
	// done. Default 1000.
	Records int64
	// Start is the first partition's first timestamp; default the time
	// the run starts.
	Start time.Time
	// Skew is how much later, at most, a partition's first timestamp is
	// than the first partition's; default 2s.
	Skew time.Duration
	// Gap is the longest pause in a partition's timestamps, one record in
	// 100 on average; between others, 0..3ms. Default 1s.
	Gap time.Duration
	// Interval is a pause after every 100 records written; default none.
	Interval time.Duration
	// Pad adds a "pad" field of that many bytes to every value, for
	// records of a chosen size; default none.
	Pad  int
	Seed uint64
	// Log receives the run's log lines; default none.
	Log *slog.Logger
	// Metrics, if set, counts the records written.
	Metrics *metrics.Run
}

// DefaultConfig returns the defaults: topic stream-topic, 4 partitions of
// 1000 records, up to 2s of skew and 1s gaps.
func DefaultConfig() Config {
	return Config{Topic: "stream-topic", Partitions: 4, Records: 1000, Skew: 2 * time.Second, Gap: time.Second}
}

// Validate rejects settings that make no sense, naming the field at fault.
func (c *Config) Validate() error {
	switch {
	case c.Topic == "":
		return setting.Invalid("Topic", "", "must not be empty")
	case c.Partitions < 1:
		return setting.Invalid("Partitions", c.Partitions, "must be >= 1")
	case c.Records < 0:
		return setting.Invalid("Records", c.Records, "must be >= 0 (0 runs until stopped)")
	case c.Skew < 0:
		return setting.Invalid("Skew", c.Skew, "must be >= 0")
	case c.Gap < 0:
		return setting.Invalid("Gap", c.Gap, "must be >= 0")
	case c.Interval < 0:
		return setting.Invalid("Interval", c.Interval, "must be >= 0")
	case c.Pad < 0:
		return setting.Invalid("Pad", c.Pad, "must be >= 0")
	}
	return nil
}

// Lane is one partition's sorted timestamps, drawn as they are asked for.
type Lane struct {
	rng  *rand.Rand
	gap  int64
	next int64 // the next timestamp, in milliseconds
	seq  int64
}

// Lanes returns a generator for each of parts partitions: partition p
// starts at start plus up to skew, seeded by seed and p.
func Lanes(seed uint64, parts int32, start time.Time, skew, gap time.Duration) []*Lane {
	ls := make([]*Lane, parts)
	for p := range ls {
		rng := rand.New(rand.NewPCG(seed, uint64(p)))
		first := start.UnixMilli()
		if p > 0 && skew > 0 {
			first += rng.Int64N(skew.Milliseconds() + 1)
		}
		ls[p] = &Lane{rng: rng, gap: gap.Milliseconds(), next: first}
	}
	return ls
}

// Peek is the lane's next timestamp.
func (l *Lane) Peek() int64 { return l.next }

// Next returns the lane's next record number and timestamp, and draws the
// one after.
func (l *Lane) Next() (seq, ts int64) {
	seq, ts = l.seq, l.next
	l.seq++
	if l.gap > 0 && l.rng.IntN(100) == 0 {
		l.next += 1 + l.rng.Int64N(l.gap)
	} else {
		l.next += l.rng.Int64N(4)
	}
	return seq, ts
}

// Value is the JSON value of record seq of partition p at ts, with a
// "pad" field of pad bytes if pad > 0.
func Value(dst []byte, p int32, seq, ts int64, pad int) []byte {
	dst = append(dst, `{"p":`...)
	dst = strconv.AppendInt(dst, int64(p), 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, ts, 10)
	if pad > 0 {
		dst = append(dst, `,"pad":"`...)
		for range pad {
			dst = append(dst, 'x')
		}
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// Stats is what a run wrote.
type Stats struct {
	Records int64
	Bytes   int64 // record values
	Elapsed time.Duration
}

// Run writes the feed (see the package doc) until each partition has
// Config.Records records or ctx is done. A stop (ctx done) is not an
// error: what was handed to the client is delivered first.
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
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	cl, err := kafka.Cluster{Brokers: cfg.Brokers, Opts: cfg.ClientOpts}.Defaults(kgo.ProducerLinger(kafka.Linger)).Client(
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(cfg.Topic),
	)
	if err != nil {
		return Stats{}, err
	}
	defer cl.Close()
	parts, _, err := kafka.EnsureTopic(ctx, kadm.NewClient(cl), cfg.Log, cfg.Topic, cfg.Partitions, cfg.Recreate)
	if err != nil {
		return Stats{}, err
	}
	start := time.Now()
	lanes := Lanes(cfg.Seed, parts, cfg.Start, cfg.Skew, cfg.Gap)
	var (
		st     Stats
		failed = make(chan error, 1)
	)
	// Records handed to the client are delivered even after a stop (ctx
	// done): a stop ends the feed, it does not fail what was written.
	produce := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		best := -1
		for p, l := range lanes {
			if (cfg.Records == 0 || l.seq < cfg.Records) && (best < 0 || l.Peek() < lanes[best].Peek()) {
				best = p
			}
		}
		if best < 0 {
			break
		}
		seq, ts := lanes[best].Next()
		r := &kgo.Record{Partition: int32(best), Value: Value(nil, int32(best), seq, ts, cfg.Pad), Timestamp: time.UnixMilli(ts)}
		cl.Produce(produce, r, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case failed <- err:
				default:
				}
			}
		})
		st.Records++
		st.Bytes += int64(len(r.Value))
		cfg.Metrics.Records.Add(1)
		if cfg.Interval > 0 && st.Records%100 == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(cfg.Interval):
			}
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	err = cl.Flush(fctx)
	select {
	case ferr := <-failed:
		err = fmt.Errorf("produce to %s: %w", cfg.Topic, ferr)
	default:
	}
	st.Elapsed = time.Since(start)
	return st, err
}
