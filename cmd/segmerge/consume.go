package main

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
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/cmd/segmerge/internal/bench"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/metrics"
	"github.com/segmerge/segmerge/repartition"
	"github.com/segmerge/segmerge/sink"
)

const consumeLong = `Read segment records as a consumer group, assemble each batch by
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
it, partitions that run ahead are paused, and the Go heap is collected at
five times what is live or at the budget, whichever comes first (so a process
holding many small records uses most of it, and none uses more). A batch too
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
Then merge <topic>.by-batch with --layout batch.`

const consumeExample = `  segmerge consume                                  # follow the topic, print batches
  segmerge consume -e --from-beginning --out-file out.jsonl   # run again after a crash: resumes
  segmerge consume --mode concurrent -e --output-topic merged
  segmerge consume --mode scalable --consumers 10 -c 100 -g team-a
  segmerge consume --memory 64MiB -e --out-file big.jsonl   # batches larger than 64MiB stream through

  # batch layout: run this in as many processes as you like
  segmerge consume --layout batch -t by-batch -g merge --output-topic merged

  # segment layout over many processes: two stages, each with its own group
  segmerge consume --stage repartition --from-beginning        # any number of these
  segmerge consume --layout batch -t segment-topic.by-batch --from-beginning --output-topic merged`

// consumeFlags are consume's flags that are not a library Config field.
type consumeFlags struct {
	cfg       consumer.Config
	client    clientFlags
	stage     string
	outFile   string
	format    string
	console   bool
	overwrite bool
	memory    string
	statsFile string
	cpuProf   string
	traceFile string
	allocFile string
	// progressEvery is how often a status line is logged when stderr is
	// not a terminal; 0: never.
	progressEvery time.Duration
	metrics       metricsFlags
}

func newConsume(e *env) *cobra.Command {
	o := &consumeFlags{cfg: consumer.DefaultConfig(), stage: "merge", memory: budget.Format(consumer.DefaultMemory)}
	cmd := &cobra.Command{
		Use:     "consume",
		Short:   "Merge every batch of a topic and write it in batch order",
		Long:    consumeLong,
		Example: consumeExample,
		Args:    cobra.NoArgs,
		// Library fields whose flag is not their name in kebab case.
		Annotations: map[string]string{"field:Sink": "--out-file", "field:ExitAtEnd": "-e", "field:Count": "--count"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.stage == "repartition" {
				return runRepartition(cmd, e, o)
			}
			if o.stage != "merge" {
				return usage(fmt.Errorf("invalid --stage %q: must be merge or repartition", o.stage))
			}
			return runConsume(cmd, e, o)
		},
	}
	cfg := &o.cfg
	f := cmd.Flags()
	o.client.add(cmd, e)
	f.StringVarP(&cfg.Topic, "topic", "t", cfg.Topic, "topic to read")
	f.StringVarP(&cfg.Group, "group", "g", cfg.Group, "consumer group (resumes from its committed offsets)")
	f.StringVar(&cfg.Mode, "mode", cfg.Mode, "simple, scalable or concurrent")
	f.IntVar(&cfg.Consumers, "consumers", 0, "scalable mode: group members in this process (default one per partition)")
	f.Int64Var(&cfg.Segments, "segments", cfg.Segments, "segments per batch, for records that do not say")
	f.BoolVar(&cfg.FromBeginning, "from-beginning", false, "a group with no committed offset starts at the oldest record (not the newest)")
	f.BoolVarP(&cfg.ExitAtEnd, "exit-at-end", "e", false, "stop at the end offsets read at start")
	f.Int64VarP(&cfg.Count, "count", "c", 0, "stop after N batches (0: no limit)")
	f.StringVar(&o.outFile, "out-file", "", "write batches to FILE; an existing FILE is resumed after its last batch (see --overwrite); a device or pipe (/dev/null) is only written")
	f.BoolVar(&o.overwrite, "overwrite", false, "truncate --out-file instead of resuming it")
	f.StringVar(&o.format, "format", "jsonl", "jsonl or text, for --out-file (and stdout when given)")
	f.StringVar(&cfg.OutputTopic, "output-topic", "", "write batches to this topic, keyed by batch id (created if missing)")
	f.BoolVar(&o.console, "console", false, "write batches to stdout too (default: only when no other output is given)")
	f.DurationVar(&cfg.CommitInterval, "commit-interval", cfg.CommitInterval, "flush output and commit offsets this often: an output topic's batches are visible to read_committed readers at the commit that holds them")
	f.Int64Var(&cfg.MaxBatchGap, "max-batch-gap", cfg.MaxBatchGap, "a partition whose batch ids jump further ahead than this, with no other partition near, is suspect: records below the jump show it an outlier, dead-lettered as far-ahead (0: no check)")
	f.DurationVar(&cfg.BatchTimeout, "batch-timeout", 0, "dead-letter a batch still incomplete this long after its first record (0: wait until its partitions move past it)")
	f.StringVar(&cfg.Layout, "layout", cfg.Layout, "segment: a batch spans every partition (one process per group); batch: a batch sits in one partition (any number of processes per group)")
	f.StringVar(&o.stage, "stage", o.stage, "merge: assemble and merge batches; repartition: re-key a segment-layout topic by batch id into <topic>.by-batch")
	f.StringVar(&cfg.TransactionalID, "transactional-id", "", "transactional id for --output-topic, one per process (default segmerge-<group>-<topic>; with --layout batch or --stage repartition, -<host>-<pid>-<random> added)")
	f.DurationVar(&cfg.TransactionTimeout, "transaction-timeout", cfg.TransactionTimeout, "the broker aborts a transaction open this long (how long a crashed process's output blocks read_committed readers); at least --session-timeout plus the larger of 2s and twice --commit-interval")
	f.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout, "how long the group waits for a crashed member before a restart can take over")
	f.StringVar(&o.memory, "memory", o.memory, "memory budget (e.g. 64MiB, 1GiB): fetch, held-batch and output limits derive from it; a batch too large for it is merged as it streams in")
	f.BoolVarP(&e.quiet, "quiet", "q", false, "no progress line or informational logs")
	o.metrics.add(cmd)
	f.DurationVar(&o.progressEvery, "progress-interval", 10*time.Second, "when stderr is not a terminal, log a status line this often (0: never)")
	hidden := func(p *string, name, usage string) {
		f.StringVar(p, name, "", usage)
		f.MarkHidden(name)
	}
	// For segmerge bench, which runs consume as a child process: the run's
	// figures and the process's peak RSS, as JSON, at exit.
	hidden(&o.statsFile, "stats-file", "write the run's figures as JSON to FILE at exit (for segmerge bench)")
	hidden(&o.cpuProf, "cpu-profile", "write a CPU profile of the run to FILE (for go tool pprof)")
	hidden(&o.traceFile, "trace", "write an execution trace of the run to FILE (for go tool trace)")
	hidden(&o.allocFile, "alloc-profile", "write a profile of the run's allocations to FILE at its end (for go tool pprof)")
	return cmd
}

// runConsume runs the merge stage.
func runConsume(cmd *cobra.Command, e *env, o *consumeFlags) (err error) {
	cfg := o.cfg
	if err := o.common(&cfg.Brokers, &cfg.ClientOpts, &cfg.Memory); err != nil {
		return err
	}
	sinks, file, err := o.sinks(cmd, e, &cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sinks.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close output: %w", cerr))
		}
	}()
	if len(sinks) > 0 {
		cfg.Sink = sinks
	}
	cfg.Log = e.logger()
	if err := cfg.Validate(); err != nil {
		return usage(err)
	}
	setMemoryLimit(cfg.Memory, budget.Reserve)
	stop, err := o.profiles()
	if err != nil {
		return err
	}
	defer stop()
	var st consumer.Stats
	err = o.metrics.watch(e, metrics.Consume, cfg.SessionTimeout, "merged", o.progressEvery, o.console && terminal(e.stdout),
		func(m *metrics.Run, opts []kgo.Opt) (err error) {
			cfg.Metrics, cfg.MemberOpts = m, opts
			st, err = consumer.Run(cmd.Context(), cfg)
			return err
		})
	if st.Elapsed == 0 {
		return atStart(err) // failed before reading anything
	}
	e.say("merged %d batches, %d integers in %.2fs (%d bad records, %d duplicates dropped, %d incomplete batches dead-lettered, %d begun before the start skipped, %d left pending)\n",
		st.Batches, st.Integers, st.Elapsed.Seconds(), st.Bad, st.Duplicates, st.Dropped, st.Cut, st.Pending)
	if st.Streamed > 0 {
		e.say("%d of them too large to hold whole were merged as they arrived (--memory %s)\n", st.Streamed, budget.Format(cfg.Memory))
	}
	if file != nil && file.Skipped() > 0 {
		e.say("%d re-read batches were already in %s and not written again\n", file.Skipped(), o.outFile)
	}
	if o.statsFile != "" && err == nil {
		err = bench.WriteChildReport(o.statsFile, bench.ChildReport{Batches: st.Batches, Integers: st.Integers, Seconds: st.Elapsed.Seconds(), FirstSeconds: st.First.Seconds()})
	}
	return err
}

// common resolves what both stages take: the cluster and the memory
// budget.
func (o *consumeFlags) common(brokers *[]string, opts *[]kgo.Opt, memory *int64) error {
	var err error
	if *brokers, *opts, err = o.client.resolve(); err != nil {
		return err
	}
	if *memory, err = parseBytes(o.memory); err != nil {
		return usage(fmt.Errorf("invalid --memory: %w", err))
	}
	return nil
}

// sinks opens what the merge stage writes besides an output topic: the
// console and --out-file. file is the latter, if given.
func (o *consumeFlags) sinks(cmd *cobra.Command, e *env, cfg *consumer.Config) (sinks sink.Multi, file *sink.Writer, err error) {
	fileFormat, err := sink.ParseFormat(o.format)
	if err != nil {
		return nil, nil, usage(fmt.Errorf("invalid --format: %w", err))
	}
	consoleFormat := sink.Text
	if cmd.Flags().Changed("format") {
		consoleFormat = fileFormat
	}
	if !cmd.Flags().Changed("console") {
		o.console = o.outFile == "" && cfg.OutputTopic == ""
	}
	if o.console {
		sinks = append(sinks, sink.NewWriter(e.stdout, consoleFormat, true))
	}
	if o.outFile != "" {
		f, last, err := sink.Open(o.outFile, fileFormat, o.overwrite)
		if err != nil {
			return nil, nil, fmt.Errorf("open --out-file: %w", err)
		}
		if last >= 0 && cfg.Layout != consumer.LayoutBatch {
			e.logger().Info("resuming --out-file: batches up to the last one in it are not written again", "file", o.outFile, "last_batch", last)
		}
		file = f
		sinks = append(sinks, f)
	}
	return sinks, file, nil
}

// setMemoryLimit caps the heap at the budget less reserve (what code and
// runtime take), and has the collector run when the heap is gcPercent
// percent larger than the last collection left live, or at the cap,
// whichever comes first. An explicit GOGC still applies.
func setMemoryLimit(memory, reserve int64) {
	debug.SetMemoryLimit(memory - reserve)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// gcPercent lets the heap grow to five times what is live before a
// collection, not twice (Go's default): collections are few, as each
// marks the whole live heap, and a workload whose live heap is large
// against the budget (many small records held) reaches the cap first, as
// if there were no percentage. One whose live heap is small (large
// batches, merged and written soon) stays well under the cap, and the
// kernel does not hand a process memory it will only fill with garbage:
// each fresh page costs a fault and its zeroing, and a process's exit
// takes them all back. With the cap alone, every process would fill its
// budget whatever it held.
const gcPercent = 400

// profiles starts the profiles and trace asked for; stop writes them.
func (o *consumeFlags) profiles() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	add := func(s func(), err error) error {
		if err == nil {
			stops = append(stops, s)
		}
		return err
	}
	if o.cpuProf != "" {
		if err := add(recordTo("--cpu-profile", o.cpuProf, pprof.StartCPUProfile, pprof.StopCPUProfile)); err != nil {
			stop()
			return nil, err
		}
	}
	if o.allocFile != "" {
		// The allocations of the whole run, written at its end.
		var w io.Writer
		if err := add(recordTo("--alloc-profile", o.allocFile, func(f io.Writer) error { w = f; return nil },
			func() { pprof.Lookup("allocs").WriteTo(w, 0) })); err != nil {
			stop()
			return nil, err
		}
	}
	if o.traceFile != "" {
		if err := add(recordTo("--trace", o.traceFile, trace.Start, trace.Stop)); err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

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

// runRepartition runs --stage repartition.
func runRepartition(cmd *cobra.Command, e *env, o *consumeFlags) error {
	c := &o.cfg
	switch {
	case o.outFile != "":
		return usage(errors.New("--stage repartition writes only <topic>.by-batch: drop --out-file"))
	case o.console:
		return usage(errors.New("--stage repartition writes only <topic>.by-batch: drop --console"))
	case c.Count != 0:
		return usage(fmt.Errorf("invalid --count %d with --stage repartition: it forwards records, not batches", c.Count))
	case c.Mode != consumer.ModeSimple:
		return usage(fmt.Errorf("invalid --mode %s with --stage repartition: run more processes in the group instead", c.Mode))
	case c.Layout != consumer.LayoutSegment:
		return usage(fmt.Errorf("invalid --layout %s with --stage repartition: a batch-layout topic needs no repartition stage; merge it with --layout batch", c.Layout))
	}
	cfg := repartition.DefaultConfig()
	if err := o.common(&cfg.Brokers, &cfg.ClientOpts, &cfg.Memory); err != nil {
		return err
	}
	cfg.Topic, cfg.OutputTopic, cfg.FromBeginning, cfg.ExitAtEnd = c.Topic, c.OutputTopic, c.FromBeginning, c.ExitAtEnd
	cfg.TransactionalID, cfg.TransactionTimeout, cfg.SessionTimeout, cfg.CommitInterval = c.TransactionalID, c.TransactionTimeout, c.SessionTimeout, c.CommitInterval
	if cmd.Flags().Changed("group") {
		cfg.Group = c.Group
	}
	cfg.Log = e.logger()
	if err := cfg.Validate(); err != nil {
		return usage(err)
	}
	setMemoryLimit(cfg.Memory, budget.Reserve)
	var st repartition.Stats
	err := o.metrics.watch(e, metrics.Consume, cfg.SessionTimeout, "repartitioned", o.progressEvery, false,
		func(m *metrics.Run, opts []kgo.Opt) (err error) {
			cfg.Metrics, cfg.MemberOpts = m, opts
			st, err = repartition.Run(cmd.Context(), cfg)
			return err
		})
	if st.Elapsed == 0 {
		return atStart(err)
	}
	e.say("repartitioned %d records into %s in %.2fs (%d bad records dead-lettered, %d transactions aborted and redone)\n",
		st.Records, cfg.Output(), st.Elapsed.Seconds(), st.Bad, st.Aborted)
	return err
}
