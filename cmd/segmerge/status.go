package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/segmerge/segmerge/status"
)

func newStatus(e *env) *cobra.Command {
	var (
		cfg     status.Config
		client  clientFlags
		asJSON  bool
		noDLQ   bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a consumer group: lag, members, the lowest batch not committed, dead letters",
		Long: `Show where a consumer group stands, as rpk group describe does, with what only
segmerge knows: per partition the committed offset, the end offset and the lag,
and the member that holds it; the group's state and members; the lowest batch
not yet committed (from the floor the merge stage commits with its offsets);
and the group's dead letters by reason, read from <topic>.dlq with
read_committed. It only reads: it never joins the group or commits.

Counting the dead letters reads the whole dead-letter topic; --no-dead-letters
skips it, and --timeout bounds it (the counts then say they are partial).`,
		Example: `  segmerge status -g segmerge
  segmerge status -g segmerge -t segment-topic --json
  segmerge status -g merged -b kafka1:9092 -F client.properties --no-dead-letters`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Cluster.Brokers, cfg.Cluster.Opts, err = client.resolve(); err != nil {
				return err
			}
			if timeout <= 0 {
				return usage(fmt.Errorf("invalid --timeout %v: must be above 0", timeout))
			}
			cfg.DeadLetters = !noDLQ
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			rep, err := status.Read(ctx, cfg)
			if err != nil {
				if ctx.Err() != nil && cmd.Context().Err() == nil {
					return fmt.Errorf("%w (no answer within --timeout %v)", err, timeout)
				}
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return writeStatus(e.stdout, rep)
		},
	}
	f := cmd.Flags()
	client.add(cmd, e)
	f.StringVarP(&cfg.Group, "group", "g", "segmerge", "the consumer group")
	f.StringVarP(&cfg.Topic, "topic", "t", "", "only this input topic (default: every topic the group commits offsets for or is assigned)")
	f.BoolVar(&asJSON, "json", false, "print the status as JSON")
	f.BoolVar(&noDLQ, "no-dead-letters", false, "do not read the dead-letter topics")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up (or, counting dead letters, stop and say the counts are partial) after this long")
	return cmd
}

// writeStatus writes rep for people: the group and its members, then per
// topic a summary, its partitions and its dead letters by reason.
func writeStatus(w io.Writer, rep *status.Report) error {
	fmt.Fprintf(w, "group %s: %s, %s\n", rep.Group, or(rep.State, "state unknown"), plural(len(rep.Members), "member"))
	if len(rep.Members) > 0 {
		tw := table(w, "MEMBER\tCLIENT-ID\tHOST\tASSIGNED")
		for _, m := range rep.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ID, m.ClientID, m.Host, assigned(m.Assigned))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, t := range rep.Topics {
		lag := fmt.Sprintf("lag %d", t.Lag)
		if t.Uncommitted > 0 {
			lag += fmt.Sprintf(" (and %d partitions without a commit)", t.Uncommitted)
		}
		lowest := "unknown (not every partition has a segmerge commit)"
		if t.HasLowest {
			lowest = fmt.Sprint(t.LowestBatch)
		}
		fmt.Fprintf(w, "\ntopic %s: %s; lowest batch not committed: %s\n", t.Name, lag, lowest)
		if d := t.DeadLetters; d != nil {
			fmt.Fprintf(w, "dead letters: %s\n", deadLine(d))
		}
		tw := table(w, "PARTITION\tCOMMITTED\tEND\tLAG\tFLOOR\tMEMBER")
		for _, p := range t.Partitions {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", p.Partition, dash(p.Committed), p.End, dash(p.Lag), dash(p.Floor), or(p.Member, "-"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if d := t.DeadLetters; d != nil && d.Total > 0 {
			tw := table(w, "REASON\tDEAD LETTERS")
			for _, r := range d.Reasons() {
				fmt.Fprintf(tw, "%s\t%d\n", or(r, "(no reason header)"), d.ByReason[r])
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// table starts a table under a blank line, with header.
func table(w io.Writer, header string) *tabwriter.Writer {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

// deadLine says in a line what a dead-letter topic holds for the group.
func deadLine(d *status.DeadLetters) string {
	if !d.Exists {
		return fmt.Sprintf("none (%s does not exist)", d.Topic)
	}
	s := fmt.Sprintf("%d in %s", d.Total, d.Topic)
	if d.Others > 0 {
		s += fmt.Sprintf(", and %d from other groups", d.Others)
	}
	if !d.Complete {
		s += " (partial: the read stopped at --timeout)"
	}
	return s
}

// assigned is a member's partitions, "topic[0 1 2]".
func assigned(m map[string][]int32) string {
	var parts []string
	for t, ps := range m {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = fmt.Sprint(p)
		}
		parts = append(parts, t+"["+strings.Join(s, " ")+"]")
	}
	sort.Strings(parts)
	return or(strings.Join(parts, " "), "nothing")
}

func dash(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// plural is "1 member", "2 members".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
