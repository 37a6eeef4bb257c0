// Package cli is segmerge's command line: a cobra tree with one file per
// command. Flags map onto the library packages' Config values and nothing
// else; errors are mapped to exit codes in one place (Main).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/segmerge/segmerge/broker"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the run failed (verify mismatch included)
	ExitUsage   = 2 // bad flags or arguments
)

// usageError marks an error as the user's invocation being wrong.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// failed is an error already reported in full (say, a verify summary): Main
// only sets the exit code.
var errReported = errors.New("reported")

// env is what commands write to; tests replace it.
type env struct {
	stdout, stderr io.Writer
	// quiet hides progress and informational logs.
	quiet bool
}

// Main runs the command line with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)

	ctx, stop := signalContext(stderr)
	defer stop()
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errReported):
		return ExitFailure
	}
	var u usageError
	if errors.As(err, &u) || isCobraUsage(err) {
		fmt.Fprintf(stderr, "segmerge: %v\nRun 'segmerge %s --help' for usage.\n", err, subcommand(args))
		return ExitUsage
	}
	fmt.Fprintf(stderr, "segmerge: %v\n", err)
	if errors.Is(err, syscall.ECONNREFUSED) {
		fmt.Fprintln(stderr, "segmerge: no broker answered: start one with 'segmerge broker', or point -b (or SEGMERGE_BROKERS) at your cluster")
	}
	return ExitFailure
}

// isCobraUsage recognises cobra's own argument errors (unknown command,
// wrong number of arguments), which do not pass the flag error func.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.Contains(s, "arg(s)") || strings.HasPrefix(s, "unknown flag") || strings.HasPrefix(s, "unknown shorthand")
}

func subcommand(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

// signalContext is cancelled by the first SIGINT or SIGTERM, so that
// commands stop cleanly; a second one exits at once.
func signalContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "\nsegmerge: stopping cleanly (press Ctrl+C again to exit at once)")
		cancel()
		<-ch
		fmt.Fprintln(stderr, "segmerge: exiting at once")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "segmerge",
		Short: "Merge batches of sorted integer segments arriving over Kafka",
		Long: `segmerge merges sorted integer segments that arrive over Kafka. A producer
writes batches of sorted segments (segment s of each batch on partition s); a
consumer assembles every batch by id, merges it with a k-way merge and writes
one sorted sequence per batch, in batch order, to the console, a file and/or an
output topic. Records it cannot use go to <topic>.dlq with the reason.`,
		Example: `  # everything in one process: cluster, producer, every consumer mode, verify
  segmerge demo

  # or in three terminals
  segmerge broker
  segmerge produce --batches 1000 --input-log input.jsonl
  segmerge consume -e --out-file out.jsonl
  segmerge verify --input-log input.jsonl --out-file out.jsonl`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	root.AddCommand(newBroker(e), newProduce(e), newConsume(e), newVerify(e), newDemo(e), newBench(e), newBenchFetch(e))
	return root
}

// brokersFlag adds -b/--brokers.
func brokersFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVarP(dst, "brokers", "b", "", "comma-separated bootstrap brokers (default $SEGMERGE_BROKERS, else $KAFKA_BROKERS, else the embedded cluster "+strings.Join(broker.DefaultListen, ",")+")")
}

// resolveBrokers applies the documented order: flag, SEGMERGE_BROKERS,
// KAFKA_BROKERS, the embedded cluster's default.
func resolveBrokers(flag string) ([]string, error) {
	s := flag
	for _, v := range []string{"SEGMERGE_BROKERS", "KAFKA_BROKERS"} {
		if s == "" {
			s = os.Getenv(v)
		}
	}
	if s == "" {
		return broker.DefaultListen, nil
	}
	var out []string
	for _, b := range strings.Split(s, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if !strings.Contains(b, ":") {
			return nil, usage(fmt.Errorf("invalid --brokers %q: %q needs host:port", s, b))
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, usage(fmt.Errorf("invalid --brokers %q: no broker in it", s))
	}
	return out, nil
}

// logger logs to stderr; quiet shows warnings and errors only.
func (e *env) logger() *slog.Logger {
	level := slog.LevelInfo
	if e.quiet {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// terminal reports whether w is a terminal.
func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
