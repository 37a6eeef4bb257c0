package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/segmerge/segmerge/cmd/segmerge/internal/bench"
	"github.com/segmerge/segmerge/producer"
)

func newBench(e *env) *cobra.Command {
	var (
		cfg       bench.Config
		workloads []string
		client    clientFlags
		asJSON    bool
	)
	var about strings.Builder
	for _, w := range bench.Workloads {
		if len(w.Rates) > 0 || w.StreamRecords > 0 {
			fmt.Fprintf(&about, "  %-8s %s\n", w.Name, w.About)
			continue
		}
		unit := "batches"
		if w.Batches == 1 {
			unit = "batch"
		}
		fmt.Fprintf(&about, "  %-8s %s; %d %s\n", w.Name, w.About, w.Batches, unit)
	}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the consumer's throughput and memory against the raw fetch of the same topic",
		Long: `Produce each --workload to a fresh topic, then read it in child processes:
first a plain franz-go fetch of the whole topic with no decoding (the
ceiling), then 'segmerge consume -e --from-beginning --out-file' once per
--mode (the pipeline), then both again; of each pair the faster run counts.
Each output is verified against the producer's data; a row that does not
verify makes the bench exit 1.

Workloads:
` + about.String() + `huge runs huge-1m first: its memory must stay flat in the size of a segment.

Columns: batches/s, ints/s and MB/s (input record bytes, 1 MB = 1e6 bytes)
are over the consumer's own clock, from before its first connection to the
broker until it has written, fsynced and committed everything and left the
group (process start-up is not in it), of the faster of its two runs (the
scale workload's processes run once). Peak RSS is the consumer process's
VmHWM: the broker runs in this process, or elsewhere with -b. Ceiling MB/s
is the raw fetch of the same topic in the same run, timed the same way, run
before each run of the pipelines (the faster counts); pipeline/ceiling is
the ratio of the two. Where kcat is installed, kcat MB/s is its raw read of
the topic (kcat -C -e, exec to exit, best of two). Where python3 has
confluent_kafka, seed also runs the original simple consumer's algorithm
over the topic (one poll() a record, a dict of batches, heapq.merge; exec to
exit, output verified): pipeline/original is how many times faster the
pipeline's process was. Targets are printed below the tables, met or not;
missing one does not fail the run.

latency is measured differently: a following 'segmerge consume --out-file
--output-topic' is started on a fresh topic, and the bench produces at each
rate (--rates overrides; --batches sets the batches per rate) while it reads
the file every millisecond, the output topic with read_committed, and the
input topic with a plain client (the follower: the floor). Each batch's
latency runs from its last record's produce timestamp to the moment the
bench saw it; the table gives p50, p99, p99.9 and max per sink. The file and
the topic are verified once the consumer has stopped.

Without -b the cluster is embedded in this process, in memory, on free
ports; SEGMERGE_BROKERS is not consulted, so a bench never writes to a
shared cluster by accident. With -b the bench's topics and groups are named
segmerge-bench-* and deleted when each workload is done.`,
		Example: `  segmerge bench                                  # seed and bulk, concurrent mode
  segmerge bench --workload bulk --mode simple,concurrent
  segmerge bench --workload huge --json
  segmerge bench --workload latency --rates 1000 --mode simple,concurrent
  segmerge bench --workload seed --batches 1000 --compression zstd
  segmerge bench -b kafka1:9092 --workload bulk --out-dir /tmp/bench`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := benchConfig(&cfg, workloads, &client); err != nil {
				return err
			}
			cfg.Log = e.logger()
			return runBench(cmd.Context(), e, cfg, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&workloads, "workload", []string{"seed", "bulk"}, "workloads to run, repeated or comma-separated: "+strings.Join(bench.Names(), ", "))
	f.StringSliceVar(&cfg.Modes, "mode", []string{"concurrent"}, "consumer modes to run each workload in, repeated or comma-separated")
	client.add(cmd, e)
	f.Lookup("brokers").Usage = "run against this cluster instead of an embedded one (comma-separated host:port; -X and --config with it)"
	f.Float64SliceVar(&cfg.Rates, "rates", nil, "rates for the latency workload, in batches a second, comma-separated (default: its own, 1000,10000)")
	f.Int64Var(&cfg.Batches, "batches", 0, "batches to produce for every workload (0: each workload's own count)")
	f.StringVar(&cfg.Compression, "compression", producer.DefaultConfig().Compression, "producer compression: none, gzip, snappy, lz4 or zstd")
	f.StringVar(&cfg.OutDir, "out-dir", "", "keep the consumers' output files here (default: a temporary directory, removed)")
	f.StringArrayVar(&cfg.ConsumeArgs, "consume-flag", nil, "extra flag for every consumer, repeatable (e.g. --consume-flag=--commit-interval=5s)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON instead of a table")
	f.BoolVarP(&e.quiet, "quiet", "q", false, "no progress lines")
	return cmd
}

// benchConfig checks the flags and fills cfg.Workloads and cfg.Brokers.
func benchConfig(cfg *bench.Config, workloads []string, client *clientFlags) error {
	for _, name := range workloads {
		w, ok := bench.Lookup(name)
		if !ok {
			return usage(fmt.Errorf("invalid --workload %q: must be one of %s", name, strings.Join(bench.Names(), ", ")))
		}
		cfg.Workloads = append(cfg.Workloads, w)
	}
	for _, m := range cfg.Modes {
		if !slices.Contains(bench.Modes, m) {
			return usage(fmt.Errorf("invalid --mode %q: must be simple, scalable or concurrent", m))
		}
	}
	if len(cfg.Workloads) == 0 || len(cfg.Modes) == 0 {
		return usage(fmt.Errorf("give at least one --workload and one --mode"))
	}
	for _, r := range cfg.Rates {
		if !(r > 0) || r > 1e6 {
			return usage(fmt.Errorf("invalid --rates %g: each must be from 1 to 1,000,000 batches a second", r))
		}
	}
	if cfg.Batches < 0 {
		return usage(fmt.Errorf("invalid --batches %d: must be >= 1 (or 0: each workload's own)", cfg.Batches))
	}
	if _, ok := producer.Compressions[cfg.Compression]; !ok {
		return usage(fmt.Errorf("invalid --compression %q: must be none, gzip, snappy, lz4 or zstd", cfg.Compression))
	}
	if client.brokers == "" {
		if len(client.x) > 0 || client.file != "" {
			return usage(errors.New("-X and --config go with -b: without it the bench runs its own cluster"))
		}
		return nil
	}
	var err error
	if cfg.Brokers, cfg.ClientOpts, err = client.resolve(); err != nil {
		return err
	}
	cfg.ClientArgs = client.args()
	return nil
}

// runBench runs the bench and prints its report, as a table or JSON.
func runBench(ctx context.Context, e *env, cfg bench.Config, asJSON bool) error {
	rep, err := bench.Run(ctx, cfg)
	if rep != nil && len(rep.Rows)+len(rep.Latency) > 0 {
		var werr error
		if asJSON {
			werr = bench.WriteJSON(e.stdout, rep)
		} else {
			werr = bench.WriteTable(e.stdout, rep)
		}
		if err == nil {
			err = werr
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			e.say("bench: stopped\n")
			return nil
		}
		return err
	}
	if !rep.OK() {
		for _, r := range rep.Rows {
			if !r.Verified {
				e.say("bench: %s --mode %s: output wrong: %s\n", r.Workload, r.Mode, r.Problem)
			}
		}
		for _, r := range rep.Latency {
			if !r.Verified {
				e.say("bench: %s --mode %s at %g batches/s (%s): %s\n", r.Workload, r.Mode, r.Rate, r.Sink, r.Problem)
			}
		}
		return errReported
	}
	return nil
}

// newBenchFetch is the ceiling's child process: not for people, so hidden.
func newBenchFetch(e *env) *cobra.Command {
	var (
		client           clientFlags
		topic, statsFile string
	)
	cmd := &cobra.Command{
		Use:    "bench-fetch",
		Short:  "Read a topic to its end with no decoding and report the time (run by bench)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, opts, err := client.resolve()
			if err != nil {
				return err
			}
			if statsFile == "" {
				return usage(fmt.Errorf("--stats-file is required"))
			}
			r, err := bench.Fetch(cmd.Context(), bs, opts, topic)
			if err != nil {
				return err
			}
			return bench.WriteChildReport(statsFile, r)
		},
	}
	client.add(cmd, e)
	cmd.Flags().StringVarP(&topic, "topic", "t", "segment-topic", "topic to read")
	cmd.Flags().StringVar(&statsFile, "stats-file", "", "write the report here, as JSON")
	return cmd
}
