package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/sink"
	"github.com/segmerge/segmerge/stream"
	"github.com/segmerge/segmerge/stream/feed"
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
log, check the three files are byte-identical, and print a table. Then write
4 partitions each sorted by timestamp (skewed, with gaps), run segmerge stream
into a topic and into a file, and check each is in global key order with
every record once. Exits 0 only if every mode verified and every stream was
in order.`,
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
	if ctx.Err() == nil {
		streamOK, err := d.stream()
		if err != nil {
			return err
		}
		allOK = allOK && streamOK
	}
	switch {
	case ctx.Err() != nil:
		e.say("demo: stopped\n")
		return nil
	case !allOK:
		e.say("demo: FAILED: a mode did not verify, or a stream was not in order\n")
		return errReported
	}
	e.say("demo: every mode verified; outputs byte-identical; every stream in key order, each record once\n")
	return nil
}

// demoFeed is the demo's input for segmerge stream: partitions sorted by
// timestamp, skewed and with gaps, from a fixed first timestamp so that
// the demo writes the same each time.
var demoFeed = feed.Config{Topic: "ticks", Partitions: 4, Records: 2500, Skew: 3 * time.Second, Gap: 2 * time.Second,
	Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}

// stream writes demoFeed, streams it in key order into a topic and into a
// file, checks each output is in order with every record once, and
// prints a table; it reports whether both were.
func (d *demo) stream() (bool, error) {
	fc := demoFeed
	fc.Brokers, fc.Log, fc.Seed = d.c.Addrs(), d.log, 1
	if _, err := feed.Run(d.ctx, fc); err != nil {
		return false, fmt.Errorf("produce --shape stream: %w", err)
	}
	want := int64(fc.Partitions) * fc.Records
	d.e.say("demo: produced %d records in %d partitions, each sorted by timestamp, skewed up to %v, gaps up to %v\n",
		want, fc.Partitions, fc.Skew, fc.Gap)
	tw := tabwriter.NewWriter(d.e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stream\trecords\tseconds\trecords/s\tin order\t")
	allOK := true
	for _, to := range []string{"topic", "file"} {
		sc := stream.DefaultConfig()
		sc.Brokers, sc.Topic, sc.Group, sc.FromBeginning, sc.ExitAtEnd, sc.Log = d.c.Addrs(), fc.Topic, "demo-stream-"+to, true, true, d.log
		var c feed.Checker
		if to == "topic" {
			sc.OutputTopic = fc.Topic + ".ordered"
		} else {
			sc.OutFile = filepath.Join(d.dir, "ticks.ordered.jsonl")
		}
		st, err := stream.Run(d.ctx, sc)
		if err != nil {
			return false, fmt.Errorf("stream into a %s: %w", to, err)
		}
		if to == "topic" {
			err = readValues(d.ctx, d.c.Addrs(), sc.OutputTopic, st.Records, c.Add)
		} else {
			err = feed.EachLine(sc.OutFile, c.Add)
		}
		if err != nil {
			return false, err
		}
		verdict := "yes"
		if c.Err() != nil || c.Count() != want || st.Records != want {
			verdict, allOK = "NO", false
			d.e.say("demo: stream into a %s: %d records written, %d read back, want %d: %v\n", to, st.Records, c.Count(), want, c.Err())
		}
		secs := st.Elapsed.Seconds()
		fmt.Fprintf(tw, "to a %s\t%d\t%.2f\t%.0f\t%s\t\n", to, st.Records, secs, float64(st.Records)/secs, verdict)
	}
	tw.Flush()
	return allOK, nil
}

// readValues reads n records of topic from its start, read_committed, and
// hands each value to add.
func readValues(ctx context.Context, brokers []string, topic string, n int64, add func([]byte)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for got := int64(0); got < n; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %d of %d records: %w", topic, got, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { add(r.Value); got++ })
	}
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
