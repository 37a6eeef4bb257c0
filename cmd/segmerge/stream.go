package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/cmd/segmerge/internal/bench"
	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/metrics"
	"github.com/segmerge/segmerge/stream"
)

const streamLong = `Read a topic whose partitions are each sorted by a key and write one stream
in global key order: ascending key, equal keys by partition, then offset, so
two runs over the same input write the same output byte for byte.

The key is the record's Kafka timestamp (--by timestamp, the default) or an
integer field of a JSON object value (--by field:NAME). --output-topic gets
each record unchanged (key, value, headers, timestamp) plus a segmerge.source
header (topic/partition@offset), all on one partition: a missing topic is
created with one partition, and one with more is refused unless
--output-partition names the one to write. --out-file gets each record's
value as a line.

A record goes out only once every partition holds a later record, or is idle:
it has read up to its end and received nothing for --idle-timeout. With
--idle-timeout none the stream waits for every partition, forever (strict
order, never a late record). A record that arrives after the stream has
passed its key is late; one below its own partition's previous key is
unsorted; in field mode, a value that is not JSON or lacks the field is bad.
Each goes to <topic>.dlq with the reason in segmerge.reason, and the stream
goes on.

Exactly once: the output, the dead letters and the input offsets commit in
one transaction every --commit-interval; the offset committed for a
partition is that of its first record not yet written, and the commit's
metadata holds what a restart needs to decide as this run would have, so a
process killed and started again writes every record once, in order
(read_committed). --out-file is fsynced before every commit and cut back to
its committed length when a run starts.

One writer: global order needs one process per output partition. Every
partition of the topic goes to one member of the group; start a second
process in the group and it waits as a standby, says so, and takes over
when the first leaves or fails (after --session-timeout).

--memory bounds the process: partitions that run ahead of the slowest are
paused once the records held for ordering fill their share.`

const streamExample = `  # one tape from every partition of ticks, by record timestamp
  segmerge stream -t ticks --output-topic ticks.ordered --from-beginning

  # by an integer field of the JSON value, into a file; stop at the end
  segmerge stream -t logs --by field:seq --out-file ordered.jsonl -e --from-beginning

  # strict: wait for every partition, never a late record
  segmerge stream -t ticks --output-topic ticks.ordered --idle-timeout none

  # a standby: the same command in a second process (another machine)
  segmerge stream -t ticks --output-topic ticks.ordered`

// streamFlags are stream's flags that are not a library Config field.
type streamFlags struct {
	cfg           stream.Config
	client        clientFlags
	idle          string
	memory        string
	progressEvery time.Duration
	metrics       metricsFlags
	statsFile     string
}

func newStream(e *env) *cobra.Command {
	o := &streamFlags{cfg: stream.DefaultConfig(), idle: "1s", memory: budget.Format(budget.Default)}
	cmd := &cobra.Command{
		Use:     "stream",
		Short:   "Write one stream in global key order from partitions that are each sorted",
		Long:    streamLong,
		Example: streamExample,
		Args:    cobra.NoArgs,
		// Library fields whose flag is not their name in kebab case.
		Annotations: map[string]string{"field:ExitAtEnd": "-e"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStream(cmd, e, o)
		},
	}
	cfg := &o.cfg
	f := cmd.Flags()
	o.client.add(cmd, e)
	f.StringVarP(&cfg.Topic, "topic", "t", "", "topic to read (required)")
	f.StringVar(&cfg.By, "by", cfg.By, "the key each partition is sorted by: timestamp, or field:NAME for an integer field of a JSON value")
	f.StringVarP(&cfg.Group, "group", "g", cfg.Group, "consumer group (resumes from its committed offsets)")
	f.StringVar(&cfg.OutputTopic, "output-topic", "", "write each record, unchanged, to this topic (created with one partition if missing)")
	f.Int32Var(&cfg.OutputPartition, "output-partition", -1, "the partition of --output-topic to write, if it has more than one")
	f.StringVar(&cfg.OutFile, "out-file", "", "write each record's value as a line of FILE")
	f.BoolVar(&cfg.FromBeginning, "from-beginning", false, "a group with no committed offset starts at the oldest record (not the newest)")
	f.BoolVarP(&cfg.ExitAtEnd, "exit-at-end", "e", false, "stop once every partition has reached the end offset read at start and all before it is written")
	f.StringVar(&o.idle, "idle-timeout", o.idle, "go on without a partition that has read up to its end and received nothing this long; none: wait for it forever")
	f.StringVar(&cfg.TransactionalID, "transactional-id", "", "transactional id, one per process (default segmerge-stream-<group>-<topic>-<host>-<pid>-<random>)")
	f.DurationVar(&cfg.TransactionTimeout, "transaction-timeout", cfg.TransactionTimeout, "the broker aborts a transaction open this long; at least --session-timeout plus the larger of 2s and twice --commit-interval")
	f.DurationVar(&cfg.SessionTimeout, "session-timeout", cfg.SessionTimeout, "how long the group waits for a crashed member before a standby takes over")
	f.DurationVar(&cfg.CommitInterval, "commit-interval", cfg.CommitInterval, "flush output and commit offsets this often")
	f.StringVar(&o.memory, "memory", o.memory, "memory budget (e.g. 64MiB, 1GiB): fetches, records held for ordering and the output buffer are shares of it")
	f.BoolVarP(&e.quiet, "quiet", "q", false, "no progress line or informational logs")
	o.metrics.add(cmd)
	f.DurationVar(&o.progressEvery, "progress-interval", 10*time.Second, "when stderr is not a terminal, log a status line this often (0: never)")
	// For segmerge bench, which runs stream as a child process.
	f.StringVar(&o.statsFile, "stats-file", "", "write the run's figures as JSON to FILE at exit (for segmerge bench)")
	f.MarkHidden("stats-file")
	return cmd
}

// parseIdle reads --idle-timeout: a duration, or none (negative: wait
// forever).
func parseIdle(s string) (time.Duration, error) {
	if strings.EqualFold(s, "none") {
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, usage(fmt.Errorf("invalid --idle-timeout %q: must be a duration (1s, 500ms) or none", s))
	}
	return d, nil
}

// runStream runs segmerge stream.
func runStream(cmd *cobra.Command, e *env, o *streamFlags) error {
	cfg := o.cfg
	var err error
	if cfg.Brokers, cfg.ClientOpts, err = o.client.resolve(); err != nil {
		return err
	}
	if cfg.Memory, err = parseBytes(o.memory); err != nil {
		return usage(fmt.Errorf("invalid --memory: %w", err))
	}
	if cfg.IdleTimeout, err = parseIdle(o.idle); err != nil {
		return err
	}
	if cfg.OutputTopic == "" && cfg.OutFile == "" {
		return usage(errors.New("give --output-topic or --out-file: where the ordered stream goes"))
	}
	cfg.Log = e.logger()
	if err := cfg.Validate(); err != nil {
		return usage(err)
	}
	setMemoryLimit(cfg.Memory, budget.StreamReserve)
	var st stream.Stats
	err = o.metrics.watch(e, metrics.Consume, cfg.SessionTimeout, "streamed", o.progressEvery, false,
		func(m *metrics.Run, opts []kgo.Opt) (err error) {
			cfg.Metrics, cfg.MemberOpts = m, opts
			st, err = stream.Run(cmd.Context(), cfg)
			return err
		})
	if st.Elapsed == 0 {
		return atStart(err)
	}
	e.say("streamed %d records in key order in %.2fs (%d late, %d unsorted, %d bad records dead-lettered; %d transactions aborted and redone)\n",
		st.Records, st.Elapsed.Seconds(), st.Late, st.Unsorted, st.Bad, st.Aborted)
	if o.statsFile != "" && err == nil {
		err = bench.WriteChildReport(o.statsFile, bench.ChildReport{Records: st.Records, Seconds: st.Elapsed.Seconds()})
	}
	return err
}
