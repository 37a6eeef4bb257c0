package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/progress"
	"github.com/segmerge/segmerge/sink"
)

func newConsume(e *env) *cobra.Command {
	var (
		cfg       = consumer.DefaultConfig()
		brokers   string
		outFile   string
		format    string
		console   bool
		overwrite bool
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
partitions decoded in parallel, batches merged in parallel, one ordered writer.

Batches go to stdout unless --out-file or --output-topic is given (--console
keeps stdout too). Ctrl+C finishes the current batch, commits what was
written, leaves the group and exits 0.

--output-topic is written in Kafka transactions (simple and concurrent
modes): the merged records, the dead letters and the input offsets of exactly
the batches written commit together, so read_committed readers see each batch
once after any crash. A broker that restarts and aborts the open transaction
fences this consumer, which then starts a new session from its last commit;
a fence with no broker trouble before it (another process using the same
--transactional-id) stops it. Scalable mode splits a batch's offsets over
several members and writes the topic at least once.

--out-file is exactly once across crashes: it is fsynced before every offset
commit, and a restarted consumer resumes it, cutting a torn last line and
skipping re-read batches it already holds (batch ids are written in ascending
order). Use --overwrite to start the file afresh, and one file per group.`,
		Example: `  segmerge consume                                  # follow the topic, print batches
  segmerge consume -e --from-beginning --out-file out.jsonl   # run again after a crash: resumes
  segmerge consume --mode concurrent -e --output-topic merged
  segmerge consume --mode scalable --consumers 10 -c 100 -g team-a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := resolveBrokers(brokers)
			if err != nil {
				return err
			}
			cfg.Brokers = bs
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
			if console {
				sinks = append(sinks, sink.NewWriter(e.stdout, consoleFormat, true))
			}
			var file *sink.Writer
			if outFile != "" {
				f, last, err := sink.Open(outFile, fileFormat, overwrite)
				if err != nil {
					return fmt.Errorf("open --out-file: %w", err)
				}
				defer f.Close()
				if last >= 0 {
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
			if file != nil && file.Skipped() > 0 {
				fmt.Fprintf(e.stderr, "%d re-read batches were already in %s and not written again\n", file.Skipped(), outFile)
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
	f.StringVar(&cfg.TransactionalID, "transactional-id", "", "transactional id for --output-topic (default segmerge-<group>-<topic>; one per consumer process)")
	f.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout, "how long the group waits for a crashed member before a restart can take over")
	f.BoolVarP(&e.quiet, "quiet", "q", false, "no progress line or informational logs")
	return cmd
}
