package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/sink"
	"github.com/segmerge/segmerge/verify"
)

func newDemo(e *env) *cobra.Command {
	var (
		batches int64
		keep    bool
		seed    int64
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline in one process and verify every consumer mode",
		Long: `Start an embedded cluster in a temporary directory (free ports on
127.0.0.1), produce --batches batches, consume them with each mode (simple,
scalable, concurrent) into a file each, verify each file against the input
log, check the three files are byte-identical, and print a table. Exits 0 only
if every mode verified.`,
		Example: `  segmerge demo
  segmerge demo --batches 10000 --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if batches < 1 {
				return usage(fmt.Errorf("invalid --batches %d: must be >= 1", batches))
			}
			return runDemo(cmd.Context(), e, batches, seed, keep)
		},
	}
	cmd.Flags().Int64Var(&batches, "batches", 1000, "batches to produce")
	cmd.Flags().Int64Var(&seed, "seed", 1, "producer seed")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory (input log, outputs, broker data)")
	cmd.Flags().BoolVarP(&e.quiet, "quiet", "q", false, "no informational logs")
	return cmd
}

// runDemo runs the demo: a cluster in a temporary directory, a producer,
// each mode into a file of its own, verified, and the table.
func runDemo(ctx context.Context, e *env, batches, seed int64, keep bool) error {
	dir, err := os.MkdirTemp("", "segmerge-demo-")
	if err != nil {
		return err
	}
	if keep {
		e.say("demo files kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	c, err := broker.Start(broker.Config{
		Listen:  []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"},
		DataDir: filepath.Join(dir, "broker"),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	log := e.logger()
	e.say("demo: embedded cluster on %s\n", c.Bootstrap())
	d := &demo{ctx: ctx, e: e, c: c, dir: dir, log: log, inputLog: filepath.Join(dir, "input.jsonl")}
	if err := d.produce(batches, seed); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tbatches\tintegers\tseconds\tbatches/s\tverified\t")
	allOK := true
	for _, mode := range []string{consumer.ModeSimple, consumer.ModeScalable, consumer.ModeConcurrent} {
		if ctx.Err() != nil {
			break
		}
		st, verdict, err := d.consume(mode)
		if err != nil {
			return err
		}
		allOK = allOK && verdict == "yes"
		secs := st.Elapsed.Seconds()
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.0f\t%s\t\n", mode, st.Batches, st.Integers, secs, float64(st.Batches)/secs, verdict)
	}
	tw.Flush()
	switch {
	case ctx.Err() != nil:
		e.say("demo: stopped\n")
		return nil
	case !allOK:
		e.say("demo: FAILED: a mode did not verify\n")
		return errReported
	}
	e.say("demo: every mode verified; outputs byte-identical\n")
	return nil
}

// demo is one run of the demo.
type demo struct {
	ctx      context.Context
	e        *env
	c        *broker.Cluster
	dir      string
	log      *slog.Logger
	inputLog string
	first    []byte // the first mode's output, which the others must equal
}

// produce writes batches with seed, logging every record to d.inputLog.
func (d *demo) produce(batches, seed int64) error {
	in, err := os.Create(d.inputLog)
	if err != nil {
		return err
	}
	pc := producer.DefaultConfig()
	pc.Brokers, pc.Batches, pc.Seed, pc.InputLog, pc.Log = d.c.Addrs(), batches, uint64(seed), in, d.log
	pst, err := producer.Run(d.ctx, pc)
	in.Close()
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	d.e.say("demo: produced %d batches, %d integers in %.2fs\n", pst.Batches, pst.Integers, pst.Elapsed.Seconds())
	return nil
}

// consume runs mode into a file of its own, verifies it and compares it
// with the first mode's, and returns the verdict for the table.
func (d *demo) consume(mode string) (consumer.Stats, string, error) {
	out := filepath.Join(d.dir, mode+".jsonl")
	f, err := sink.Create(out, sink.JSONL)
	if err != nil {
		return consumer.Stats{}, "", err
	}
	cc := consumer.DefaultConfig()
	cc.Brokers, cc.Mode, cc.Group = d.c.Addrs(), mode, "demo-"+mode
	cc.FromBeginning, cc.ExitAtEnd, cc.Sink, cc.Log = true, true, f, d.log
	st, err := consumer.Run(d.ctx, cc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, "", fmt.Errorf("consume --mode %s: %w", mode, err)
	}
	rep, err := verify.Run(d.ctx, verify.Config{InputLog: d.inputLog, OutFile: out})
	if err != nil {
		return st, "", err
	}
	verdict := "yes"
	if !rep.OK() {
		verdict = "NO"
		d.e.say("demo: --mode %s: %s\n", mode, rep.Summary())
	}
	body, _ := os.ReadFile(out)
	if d.first == nil {
		d.first = body
	} else if !bytes.Equal(d.first, body) {
		verdict = "NO (differs from simple)"
	}
	return st, verdict, nil
}
