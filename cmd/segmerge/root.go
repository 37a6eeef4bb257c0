package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/segmerge/segmerge/internal/setting"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the run failed (verify mismatch included)
	exitUsage   = 2 // bad flags or arguments
	// A second Ctrl+C exits at once with 130, as a shell reports a
	// process killed by SIGINT.
	exitInterrupted = 130
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

// atStart is err of a run that failed before it read anything: a setting
// the library found wrong then (a file that belongs to another topic, say)
// is bad usage.
func atStart(err error) error {
	var se *setting.Error
	if errors.As(err, &se) {
		return usage(err)
	}
	return err
}

// errReported is an error already reported in full (say, a verify
// summary): execute only sets the exit code.
var errReported = errors.New("reported")

// env is what commands write to; tests replace it.
type env struct {
	stdout, stderr io.Writer
	// quiet hides progress and informational logs.
	quiet bool
	log   logFlags
	con   console        // stderr, shared by log lines and a progress line
	cmd   *cobra.Command // the command running: its flags name Config fields
	lg    *slog.Logger   // made once a run (see logger)
	lgMu  sync.Mutex
}

// execute runs the command line with args and returns the exit code: the
// one place errors become exit codes.
func execute(args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	e.con.w = stderr
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)

	ctx, stop := signalContext(e.say)
	defer stop()
	cmd, err := root.ExecuteContextC(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errReported):
		return exitFailure
	}
	msg := explain(cmd, err)
	code, hint := exitFailure, ""
	var u usageError
	switch {
	case errors.As(err, &u) || isCobraUsage(err):
		code, hint = exitUsage, fmt.Sprintf("Run '%s --help' for usage.", cmd.CommandPath())
	case errors.Is(err, syscall.ECONNREFUSED):
		hint = "segmerge: no broker answered: start one with 'segmerge broker', or point -b (or SEGMERGE_BROKERS) at your cluster"
	}
	if e.log.format == "json" {
		e.logger().Error(msg, "exit", code, "hint", hint)
		return code
	}
	fmt.Fprintf(stderr, "segmerge: %s\n", msg)
	if hint != "" {
		fmt.Fprintln(stderr, hint)
	}
	return code
}

// explain says err with every Config field a library named (a
// *setting.Error in its chain) rendered as the flag of cmd that sets it.
func explain(cmd *cobra.Command, err error) string {
	msg := err.Error()
	var se *setting.Error
	if cmd == nil || !errors.As(err, &se) {
		return msg
	}
	name := func(field string) string { return flagOf(cmd, field) }
	return strings.Replace(msg, se.Error(), se.Render(name), 1)
}

// flagOf names the flag of cmd that sets a library's Config field: the
// field's name in kebab case (SessionTimeout: --session-timeout) if cmd has
// that flag, else what cmd's "field:<Field>" annotation says, else the
// field's own name.
func flagOf(cmd *cobra.Command, field string) string {
	if f, ok := cmd.Annotations["field:"+field]; ok {
		return f
	}
	var b strings.Builder
	for i, r := range field {
		if i > 0 && r >= 'A' && r <= 'Z' && field[i-1] >= 'a' && field[i-1] <= 'z' {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	kebab := strings.ToLower(b.String())
	if cmd.Flags().Lookup(kebab) != nil {
		return "--" + kebab
	}
	return field
}

// isCobraUsage recognises cobra's own argument errors (unknown command,
// wrong number of arguments), which do not pass the flag error func.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.Contains(s, "arg(s)") || strings.HasPrefix(s, "unknown flag") || strings.HasPrefix(s, "unknown shorthand")
}

// signalContext is cancelled by the first SIGINT or SIGTERM, so that
// commands stop cleanly; a second one exits at once. say tells the user.
func signalContext(say func(format string, args ...any)) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
		say("segmerge: stopping cleanly (press Ctrl+C again to exit at once)\n")
		cancel()
		<-ch
		say("segmerge: exiting at once\n")
		os.Exit(exitInterrupted)
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
		Version:       readVersion().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	e.log.add(root)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		e.cmd = cmd
		_, err := e.log.parse()
		return err
	}
	root.AddCommand(newBroker(e), newProduce(e), newConsume(e), newStream(e), newVerify(e), newStatus(e), newDemo(e), newBench(e), newBenchFetch(e), newClientHelp(), newVersion(e))
	return root
}
