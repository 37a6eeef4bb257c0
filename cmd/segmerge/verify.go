package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/segmerge/segmerge/verify"
)

func newVerify(e *env) *cobra.Command {
	var (
		cfg    verify.Config
		client clientFlags
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check merged output against the producer's --input-log",
		Long: `Check an output file, or an output topic read with read_committed, against
the producer's --input-log, without trusting the consumer: every batch complete
in the input appears exactly once, equal to the sorted union of its segments,
in ascending batch order (per partition for a topic), and nothing else appears.
Prints one line, and on stderr the problems (the first few of each kind, with a
count of the rest); exits 1 on any mismatch. An input log with no batch is a
failure too: nothing checked proves nothing.

The input log may be one a producer is still writing: verify reads it as it
stands, ignoring a partial last line and saying so.

--unordered checks exactly once without order between batches. An output topic
that segmerge created keeps batch b in partition b mod P in ascending order
even when several processes write it, so it passes without --unordered; use it
for a topic created with another partition count, or files concatenated.`,
		Example: `  segmerge verify --input-log input.jsonl --out-file out.jsonl
  segmerge verify --input-log input.jsonl --output-topic merged
  segmerge verify --input-log input.jsonl --output-topic merged --unordered`,
		Annotations: map[string]string{"field:Topic": "--output-topic"},
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.InputLog == "" {
				return usage(errors.New("--input-log is required"))
			}
			if (cfg.OutFile == "") == (cfg.Topic == "") {
				return usage(errors.New("give exactly one of --out-file and --output-topic"))
			}
			if cfg.Topic != "" {
				var err error
				if cfg.Brokers, cfg.ClientOpts, err = client.resolve(); err != nil {
					return err
				}
			}
			rep, err := verify.Run(cmd.Context(), cfg)
			if err != nil {
				return verifyHint(err)
			}
			fmt.Fprintln(e.stdout, rep.Summary())
			if !rep.OK() {
				for _, line := range rep.Details() {
					e.say("  %s\n", line)
				}
				return errReported
			}
			return nil
		},
	}
	f := cmd.Flags()
	client.add(cmd, e)
	f.StringVar(&cfg.InputLog, "input-log", "", "the producer's --input-log (required)")
	f.StringVar(&cfg.OutFile, "out-file", "", "a JSON Lines output file to check")
	f.StringVar(&cfg.Topic, "output-topic", "", "an output topic to check (read_committed)")
	f.Int64Var(&cfg.Segments, "segments", 10, "segments per batch, for input records that do not say")
	f.BoolVar(&cfg.Unordered, "unordered", false, "check each batch once and correct, in any order")
	return cmd
}

// verifyHint adds to an error of verify.Run what to do about it, where
// that is a flag to change.
func verifyHint(err error) error {
	switch {
	case errors.Is(err, verify.ErrTextFormat):
		return fmt.Errorf("%w; verify reads the JSON Lines that consume writes with --format jsonl (the default)", err)
	case errors.Is(err, verify.ErrSwapped):
		return fmt.Errorf("%w; give the producer's log as --input-log and the consumer's output as --out-file", err)
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("%w; check --output-topic, and -b if the topic is on another cluster", err)
	}
	return err
}
