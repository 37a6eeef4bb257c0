package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/spf13/cobra"

	"github.com/segmerge/segmerge/bench"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/progress"
	"github.com/segmerge/segmerge/sink"
)

// recordTo starts writing a profile or trace of the process into path
// (start and stop are pprof's or trace's), until the returned stop; flag
// names the option in errors.
func recordTo(flag, path string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return func() { stop(); f.Close() }, nil
}

func newConsume(e *env) *cobra.Command {
	var (
		cfg       = consumer.DefaultConfig()
		brokers   string
		outFile   string
		format    string
		console   bool
		overwrite bool
		statsFile string
		memory    = consumer.FormatBytes(consumer.DefaultMemory)
		cpuProf   string
		traceFile string
		allocFile string
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Merge every batch of a topic and write it in batch order",
		Long: `Read segment records as a consumer group, assemble each batch by
(batch_id, segment_id), merge it, and write one sorted sequence per batch in
ascending batch-id order: to stdout (human text), --out-file (JSON Lines) and/or
--output-topic. Offsets are committed only for batches already written, so a
restarted consumer resumes where the group left off. Bad records go to
<topic>.dlq with the reason in headers; the consumer logs one line and goes on.

Modes (identical output): simple — one member, one loop; scalable — one group
member per partition in this process (--consumers N); concurrent — one member,
partitions decoded in parallel, batches merged and formatted on every core
while the next poll is read, one ordered writer.

Batches go to stdout unless --out-file or --output-topic is given (--console
keeps stdout too). Ctrl+C finishes the current batch (a batch too large to
hold, merged as it streams in, is cut back instead and redone by the next
run), commits what was written, leaves the group and exits 0. A commit that waits on a group
rebalance (processes of the group stopping together) is given half
--session-timeout (at most 5s), then its transaction is aborted for the
next run to redo; leaving the group is given twice --session-timeout (at
most 20s), then the group drops the member as it would a crashed one.

--output-topic is written in Kafka transactions (simple and concurrent
modes): the merged records, the dead letters and the input offsets of exactly
the batches written commit together, so read_committed readers see each batch
once after any crash. A broker that restarts and aborts the open transaction
fences this consumer, which then starts a new session from its last commit;
a fence with no broker trouble before it (another process using the same
--transactional-id) stops it. Scalable mode splits a batch's offsets over
several members and writes the topic at least once. Batch b goes to
partition b mod P of the output topic.

--out-file is exactly once across crashes: it is fsynced before every offset
commit, and a restarted consumer resumes it, cutting a torn last line and
skipping re-read batches it already holds (batch ids are written in ascending
order). Use --overwrite to start the file afresh, and one file per group.

--memory is the consumer's footprint, whatever the size of a batch: fetch
buffers, records held while batches assemble and output buffers are shares of
it, partitions that run ahead are paused, and the Go heap grows to it before
it is collected (so expect the process to use about that much). A batch too
large for its share is merged while its chunks arrive (produce --chunk-size),
its output line growing as it merges; with --output-topic it is written in a
transaction of its own (so within --transaction-timeout).

Several processes (scale out). In the segment layout (the default) a batch
spans every partition, so one process must own them all: start one process
per group. With --layout batch (a topic written by produce --layout batch, or
<topic>.by-batch written by --stage repartition) a batch sits whole in one
partition: start any number of processes with the same -g and they split the
partitions; members may join, leave or crash at any time. Then:
  - --output-topic is the exactly-once sink: a rebalance aborts the open
    transactions and the new owners redo them from the last commit, so a
    read_committed reader sees every batch once. Partition p of the output
    topic holds batches in ascending order; across partitions there is no
    order.
  - --out-file holds what this process wrote, and is at least once, not
    exactly once: a batch redone after a rebalance or a crash can be in two
    processes' files (or twice in one), and batch ids in a file do not
    ascend. Re-read batches are not skipped.
  - Each process needs its own transactional id: the default is
    segmerge-<group>-<topic>-<host>-<pid>-<random>, new for each process. A
    crashed process's open transaction then ends only when the broker aborts
    it after --transaction-timeout, and read_committed readers of the
    partitions it wrote wait until then. Give each instance a stable
    --transactional-id of its own (a StatefulSet pod name, say) and a
    restart fences its predecessor at once instead.

--stage repartition is the first stage for the segment layout: it reads
--topic and writes every record unchanged to <topic>.by-batch (or
--output-topic), keyed by batch id on partition batch_id mod P, in
transactions that commit the input offsets with it; records it cannot
decode go to <topic>.dlq. It has its own group (default
segmerge-repartition) and scales like the merge stage, by adding processes.
Then merge <topic>.by-batch with --layout batch.`,
		Example: `  segmerge consume                                  # follow the topic, print batches
  segmerge consume -e --from-beginning --out-file out.jsonl   # run again after a crash: resumes
  segmerge consume --mode concurrent -e --output-topic merged
  segmerge consume --mode scalable --consumers 10 -c 100 -g team-a
  segmerge consume --memory 64MiB -e --out-file big.jsonl   # batches larger than 64MiB stream through

  # batch layout: run this in as many processes as you like
  segmerge consume --layout batch -t by-batch -g merge --output-topic merged

  # segment layout over many processes: two stages, each with its own group
  segmerge consume --stage repartition --from-beginning        # any number of these
  segmerge consume --layout batch -t segment-topic.by-batch --from-beginning --output-topic merged`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := resolveBrokers(brokers)
			if err != nil {
				return err
			}
			cfg.Brokers = bs
			if cfg.Memory, err = consumer.ParseBytes(memory); err != nil {
				return usage(fmt.Errorf("invalid --memory: %w", err))
			}
			if cfg.Stage == consumer.StageRepartition {
				return repartition(cmd, e, cfg, outFile, console)
			}
			fileFormat, err := sink.ParseFormat(format)
			if err != nil {
				return usage(fmt.Errorf("invalid --format: %w", err))
			}
			consoleFormat := sink.Text
			if cmd.Flags().Changed("format") {
				consoleFormat = fileFormat
			}
			if !cmd.Flags().Changed("console") {
				console = outFile == "" && cfg.OutputTopic == ""
			}
			var sinks sink.Multi
			// In the batch layout this process's batch ids do not ascend:
			// skipping ids it has passed would lose batches.
			all := cfg.Layout == consumer.LayoutBatch
			if console {
				w := sink.NewWriter(e.stdout, consoleFormat, true)
				if all {
					w.WriteAll()
				}
				sinks = append(sinks, w)
			}
			var file *sink.Writer
			if outFile != "" {
				f, last, err := sink.Open(outFile, fileFormat, overwrite)
				if err != nil {
					return fmt.Errorf("open --out-file: %w", err)
				}
				defer f.Close()
				if all {
					f.WriteAll()
				} else if last >= 0 {
					e.logger().Info("resuming --out-file: batches up to the last one in it are not written again", "file", outFile, "last_batch", last)
				}
				file = f
				sinks = append(sinks, f)
			}
			if len(sinks) > 0 {
				cfg.Sink = sinks
			}
			cfg.Log = e.logger()
			if err := cfg.Validate(); err != nil {
				return usage(err)
			}
			// The heap may grow to the budget (less what code and runtime
			// take), and the collector runs when it gets there rather than
			// each time the heap doubles: the footprint is the budget,
			// whatever the size of a batch, and collections are fewer. An
			// explicit GOGC still applies. See consumer/memory.go for how
			// the budget is shared out.
			debug.SetMemoryLimit(consumer.GoMemoryLimit(cfg.Memory))
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(-1)
			}
			if cpuProf != "" {
				stop, err := recordTo("--cpu-profile", cpuProf, pprof.StartCPUProfile, pprof.StopCPUProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			if allocFile != "" {
				// The allocations of the whole run, written at its end.
				var w io.Writer
				stop, err := recordTo("--alloc-profile", allocFile, func(f io.Writer) error { w = f; return nil },
					func() { pprof.Lookup("allocs").WriteTo(w, 0) })
				if err != nil {
					return err
				}
				defer stop()
			}
			if traceFile != "" {
				stop, err := recordTo("--trace", traceFile, trace.Start, trace.Stop)
				if err != nil {
					return err
				}
				defer stop()
			}
			cfg.Counters = new(progress.Counters)
			var line *progress.Line
			if !e.quiet && terminal(e.stderr) && !(console && terminal(e.stdout)) {
				line = progress.Start(e.stderr, cfg.Counters, "merged", 500*time.Millisecond)
			}
			st, err := consumer.Run(cmd.Context(), cfg)
			line.Stop()
			if cerr := sinks.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("close output: %w", cerr))
			}
			if st.Elapsed == 0 {
				return err // failed before reading anything
			}
			fmt.Fprintf(e.stderr, "merged %d batches, %d integers in %.2fs (%d bad records, %d duplicates dropped, %d incomplete batches dead-lettered, %d begun before the start skipped, %d left pending)\n",
				st.Batches, st.Integers, st.Elapsed.Seconds(), st.Bad, st.Duplicates, st.Dropped, st.Cut, st.Pending)
			if st.Streamed > 0 {
				fmt.Fprintf(e.stderr, "%d of them too large to hold whole were merged as they arrived (--memory %s)\n", st.Streamed, consumer.FormatBytes(cfg.Memory))
			}
			if file != nil && file.Skipped() > 0 {
				fmt.Fprintf(e.stderr, "%d re-read batches were already in %s and not written again\n", file.Skipped(), outFile)
			}
			if statsFile != "" && err == nil {
				err = bench.WriteChildReport(statsFile, bench.ChildReport{Batches: st.Batches, Integers: st.Integers, Seconds: st.Elapsed.Seconds()})
			}
			return err
		},
	}
	f := cmd.Flags()
	brokersFlag(cmd, &brokers)
	f.StringVarP(&cfg.Topic, "topic", "t", cfg.Topic, "topic to read")
	f.StringVarP(&cfg.Group, "group", "g", cfg.Group, "consumer group (resumes from its committed offsets)")
	f.StringVar(&cfg.Mode, "mode", cfg.Mode, "simple, scalable or concurrent")
	f.IntVar(&cfg.Consumers, "consumers", 0, "scalable mode: group members in this process (default one per partition)")
	f.Int64Var(&cfg.Segments, "segments", cfg.Segments, "segments per batch, for records that do not say")
	f.BoolVar(&cfg.FromBeginning, "from-beginning", false, "a group with no committed offset starts at the oldest record (not the newest)")
	f.BoolVarP(&cfg.ExitAtEnd, "exit-at-end", "e", false, "stop at the end offsets read at start")
	f.Int64VarP(&cfg.Count, "count", "c", 0, "stop after N batches (0: no limit)")
	f.StringVar(&outFile, "out-file", "", "write batches to FILE; an existing FILE is resumed after its last batch (see --overwrite)")
	f.BoolVar(&overwrite, "overwrite", false, "truncate --out-file instead of resuming it")
	f.StringVar(&format, "format", "jsonl", "jsonl or text, for --out-file (and stdout when given)")
	f.StringVar(&cfg.OutputTopic, "output-topic", "", "write batches to this topic, keyed by batch id (created if missing)")
	f.BoolVar(&console, "console", false, "write batches to stdout too (default: only when no other output is given)")
	f.DurationVar(&cfg.CommitInterval, "commit-interval", cfg.CommitInterval, "flush output and commit offsets this often")
	f.DurationVar(&cfg.BatchTimeout, "batch-timeout", 0, "dead-letter a batch still incomplete this long after its first record (0: wait until its partitions move past it)")
	f.StringVar(&cfg.Layout, "layout", cfg.Layout, "segment: a batch spans every partition (one process per group); batch: a batch sits in one partition (any number of processes per group)")
	f.StringVar(&cfg.Stage, "stage", cfg.Stage, "merge: assemble and merge batches; repartition: re-key a segment-layout topic by batch id into <topic>.by-batch")
	f.StringVar(&cfg.TransactionalID, "transactional-id", "", "transactional id for --output-topic, one per process (default segmerge-<group>-<topic>; with --layout batch or --stage repartition, -<host>-<pid>-<random> added)")
	f.DurationVar(&cfg.TransactionTimeout, "transaction-timeout", cfg.TransactionTimeout, "the broker aborts a transaction open this long (how long a crashed process's output blocks read_committed readers); at least --session-timeout plus the larger of 2s and twice --commit-interval")
	f.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout, "how long the group waits for a crashed member before a restart can take over")
	f.StringVar(&memory, "memory", memory, "memory budget (e.g. 64MiB, 1GiB): fetch, held-batch and output limits derive from it; a batch too large for it is merged as it streams in")
	f.BoolVarP(&e.quiet, "quiet", "q", false, "no progress line or informational logs")
	// For segmerge bench, which runs consume as a child process: the run's
	// figures and the process's peak RSS, as JSON, at exit.
	f.StringVar(&statsFile, "stats-file", "", "write the run's figures as JSON to FILE at exit (for segmerge bench)")
	f.MarkHidden("stats-file")
	f.StringVar(&cpuProf, "cpu-profile", "", "write a CPU profile of the run to FILE (for go tool pprof)")
	f.MarkHidden("cpu-profile")
	f.StringVar(&traceFile, "trace", "", "write an execution trace of the run to FILE (for go tool trace)")
	f.StringVar(&allocFile, "alloc-profile", "", "write a profile of the run's allocations to FILE at its end (for go tool pprof)")
	f.MarkHidden("alloc-profile")
	f.MarkHidden("trace")
	return cmd
}

// repartition runs --stage repartition.
func repartition(cmd *cobra.Command, e *env, cfg consumer.Config, outFile string, console bool) error {
	switch {
	case outFile != "":
		return usage(errors.New("--stage repartition writes only <topic>.by-batch: drop --out-file"))
	case console:
		return usage(errors.New("--stage repartition writes only <topic>.by-batch: drop --console"))
	}
	if !cmd.Flags().Changed("group") {
		// Not the merge stage's group: the stages read different topics
		// and must not rebalance each other.
		cfg.Group = "segmerge-repartition"
	}
	cfg.Log = e.logger()
	if err := cfg.Validate(); err != nil {
		return usage(err)
	}
	cfg.Counters = new(progress.Counters)
	var line *progress.Line
	if !e.quiet && terminal(e.stderr) {
		line = progress.Start(e.stderr, cfg.Counters, "repartitioned", 500*time.Millisecond)
	}
	st, err := consumer.Repartition(cmd.Context(), cfg)
	line.Stop()
	if st.Elapsed == 0 {
		return err
	}
	fmt.Fprintf(e.stderr, "repartitioned %d records into %s in %.2fs (%d bad records dead-lettered, %d transactions aborted and redone)\n",
		st.Records, cfg.RepartitionTopic(), st.Elapsed.Seconds(), st.Bad, st.Aborted)
	return err
}
