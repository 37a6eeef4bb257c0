package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/metrics"
	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/stream/feed"
)

func newProduce(e *env) *cobra.Command {
	var (
		cfg      = producer.DefaultConfig()
		client   clientFlags
		inputLog string
		seed     int64
		// progressEvery: see consume's --progress-interval.
		progressEvery time.Duration
		mf            metricsFlags
		shape         = "batches"
		fd            = feed.DefaultConfig()
	)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Write batches of sorted random segments to a topic",
		Long: `Write batches of --segments sorted random segments, with lengths in
[--min-len, --max-len] and values in [--min-value, --max-value]. Segment s of
each batch goes to partition s mod P (--layout segment), or a whole batch to
partition b mod P keyed by its id (--layout batch). The topic is created if
missing (--recreate deletes it first). Batch ids continue after the highest
already in the topic. Ctrl+C stops after the current batch.`,
		Example: `  segmerge produce --batches 1000 --input-log input.jsonl
  segmerge produce --interval 1s                  # one batch a second until Ctrl+C
  segmerge produce --rate 1000 --batches 30000    # a steady 1,000 batches a second for 30s
  segmerge produce --recreate --partitions 4 --segments 4 --seed 7
  segmerge produce --layout batch --batches 100 -t by-batch
  segmerge produce --compression zstd --batches 100
  segmerge produce --shape stream -t ticks --records 10000 --skew 5s   # for segmerge stream`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch shape {
			case "stream":
				return runFeed(cmd, e, &client, &fd, &cfg, seed, inputLog, &mf, progressEvery)
			case "batches":
			default:
				return usage(fmt.Errorf("invalid --shape %q: must be batches or stream", shape))
			}
			return runProduce(cmd, e, &client, &cfg, seed, inputLog, &mf, progressEvery)
		},
	}
	f := cmd.Flags()
	client.add(cmd, e)
	f.StringVarP(&cfg.Topic, "topic", "t", cfg.Topic, "topic to write")
	f.Int32Var(&cfg.Partitions, "partitions", cfg.Partitions, "partitions of the topic when it is created")
	f.BoolVar(&cfg.Recreate, "recreate", false, "delete the topic and create it again first")
	f.Int64Var(&cfg.Batches, "batches", 0, "batches to write (0: until Ctrl+C)")
	f.DurationVar(&cfg.Interval, "interval", 0, "pause between batches (e.g. 500ms)")
	f.Float64Var(&cfg.Rate, "rate", 0, "write this many batches a second, paced on a clock (not with --interval; 0: as fast as the broker takes them)")
	f.IntVar(&cfg.Segments, "segments", cfg.Segments, "segments per batch")
	f.IntVar(&cfg.MinLen, "min-len", cfg.MinLen, "shortest segment")
	f.IntVar(&cfg.MaxLen, "max-len", cfg.MaxLen, "longest segment")
	f.Int64Var(&cfg.MinValue, "min-value", cfg.MinValue, "smallest value")
	f.Int64Var(&cfg.MaxValue, "max-value", cfg.MaxValue, "largest value")
	f.Int64Var(&seed, "seed", 0, "seed for a reproducible run (default: the clock)")
	f.StringVar(&cfg.Layout, "layout", cfg.Layout, "segment: segment s on partition s mod P; batch: batch b on partition b mod P, keyed by b")
	f.IntVar(&cfg.ChunkSize, "chunk-size", 0, "split segments into records of at most N integers (0: one record per segment)")
	f.StringVar(&cfg.Compression, "compression", "", "compress record batches with none, gzip, snappy, lz4 or zstd (default: -X compression.type, else snappy)")
	f.StringVar(&inputLog, "input-log", "", "append every record written to FILE, one JSON value per line, each batch once the broker has acknowledged it whole (for verify)")
	f.BoolVarP(&e.quiet, "quiet", "q", false, "no progress line or informational logs")
	f.StringVar(&shape, "shape", shape, "batches: batches of sorted segments; stream: per-partition streams sorted by timestamp, for segmerge stream (--records, --skew, --gap)")
	f.Int64Var(&fd.Records, "records", fd.Records, "--shape stream: records per partition (0: until Ctrl+C)")
	f.DurationVar(&fd.Skew, "skew", fd.Skew, "--shape stream: how much later, at most, a partition's timestamps start than the first's")
	f.DurationVar(&fd.Gap, "gap", fd.Gap, "--shape stream: the longest pause in a partition's timestamps (one record in 100)")
	mf.add(cmd)
	f.DurationVar(&progressEvery, "progress-interval", 10*time.Second, "when stderr is not a terminal, log a status line this often (0: never)")
	return cmd
}

// runProduce runs produce --shape batches.
func runProduce(cmd *cobra.Command, e *env, client *clientFlags, cfg *producer.Config, seed int64, inputLog string, mf *metricsFlags, progressEvery time.Duration) error {
	var err error
	if cfg.Brokers, cfg.ClientOpts, err = client.resolve(); err != nil {
		return err
	}
	cfg.Seed = uint64(seed)
	if !cmd.Flags().Changed("seed") {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	cfg.Log = e.logger()
	if err := cfg.Validate(); err != nil {
		return usage(err)
	}
	if inputLog != "" {
		f, cut, err := producer.OpenInputLog(inputLog)
		if err != nil {
			return fmt.Errorf("open --input-log: %w", err)
		}
		defer f.Close()
		if cut > 0 {
			cfg.Log.Warn("--input-log ended in a torn line, left by a producer killed as it wrote; cut it", "file", inputLog, "bytes", cut)
		}
		cfg.InputLog = f
	}
	var st producer.Stats
	err = mf.watch(e, metrics.Produce, 0, "produced", progressEvery, false, func(m *metrics.Run, opts []kgo.Opt) (err error) {
		cfg.Metrics, cfg.ClientOpts = m, append(cfg.ClientOpts, opts...)
		st, err = producer.Run(cmd.Context(), *cfg)
		return err
	})
	if st.Elapsed == 0 {
		return err // failed before writing anything
	}
	e.say("produced %d batches (ids %d..%d), %d records, %d integers to %s in %.2fs\n",
		st.Batches, st.FirstBatch, st.FirstBatch+st.Batches-1, st.Records, st.Integers, cfg.Topic, st.Elapsed.Seconds())
	return err
}

// runFeed runs produce --shape stream, taking the flags the two shapes
// share from cfg.
func runFeed(cmd *cobra.Command, e *env, client *clientFlags, fd *feed.Config, cfg *producer.Config, seed int64, inputLog string,
	mf *metricsFlags, progressEvery time.Duration) error {
	if inputLog != "" {
		return usage(fmt.Errorf("--input-log is for --shape batches: with --shape stream, read the topic back"))
	}
	var err error
	if fd.Brokers, fd.ClientOpts, err = client.resolve(); err != nil {
		return err
	}
	if cmd.Flags().Changed("topic") {
		fd.Topic = cfg.Topic
	}
	if cmd.Flags().Changed("partitions") {
		fd.Partitions = cfg.Partitions
	}
	fd.Recreate, fd.Interval, fd.Seed = cfg.Recreate, cfg.Interval, uint64(seed)
	if !cmd.Flags().Changed("seed") {
		fd.Seed = uint64(time.Now().UnixNano())
	}
	fd.Log = e.logger()
	if err := fd.Validate(); err != nil {
		return usage(err)
	}
	var st feed.Stats
	err = mf.watch(e, metrics.Produce, 0, "produced", progressEvery, false, func(m *metrics.Run, opts []kgo.Opt) (err error) {
		fd.Metrics, fd.ClientOpts = m, append(fd.ClientOpts, opts...)
		st, err = feed.Run(cmd.Context(), *fd)
		return err
	})
	if st.Elapsed == 0 {
		return err
	}
	e.say("produced %d records, sorted by timestamp in each partition, to %s in %.2fs\n", st.Records, fd.Topic, st.Elapsed.Seconds())
	return err
}
