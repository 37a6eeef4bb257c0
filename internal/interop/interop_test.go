package interop

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/goleak"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/sink"
	"github.com/segmerge/segmerge/verify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// python is the interpreter with confluent_kafka: Debian's, never whatever
// python3 comes first on PATH (often a pyenv or venv one without it).
const python = "/usr/bin/python3"

// A tool is an outside client a test needs.
type tool struct {
	name    string // what the tests call it
	install string // how to get it on Debian
	check   func() error
}

var (
	kcat = &tool{name: "kcat", install: "apt-get install -y kcat",
		check: func() error { _, err := exec.LookPath("kcat"); return err }}
	confluentKafka = &tool{name: "python3-confluent-kafka", install: "apt-get install -y python3-confluent-kafka",
		check: func() error { return exec.Command(python, "-c", "import confluent_kafka").Run() }}

	checked sync.Map // *tool -> error, so each tool is looked for once
)

// requireTools skips the test, loudly, if a tool is missing; under CI=true
// it fails instead, so that CI cannot pass by testing nothing.
func requireTools(t *testing.T, tools ...*tool) {
	t.Helper()
	var missing []string
	for _, tl := range tools {
		err, ok := checked.Load(tl)
		if !ok {
			err, _ = checked.LoadOrStore(tl, tl.check())
		}
		if err != nil {
			missing = append(missing, tl.name+" ("+err.(error).Error()+"; install: "+tl.install+")")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "INTEROP TEST NOT RUN: missing " + strings.Join(missing, ", ") + "; .ci/run installs them"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// cluster starts a fresh embedded three-broker cluster, closed when the test
// ends.
func cluster(t *testing.T) *broker.Cluster {
	t.Helper()
	c, err := broker.Start(broker.Config{Listen: []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// createTopic creates topic with partitions partitions, with franz-go's
// admin client.
func createTopic(t *testing.T, c *broker.Cluster, topic string, partitions int32) {
	t.Helper()
	cl, err := kafka.Cluster{Brokers: c.Addrs()}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n, created, err := kafka.EnsureTopic(ctx(t), kadm.NewClient(cl), slog.New(slog.DiscardHandler), topic, partitions, false)
	if err != nil {
		t.Fatal(err)
	}
	if !created || n != partitions {
		t.Fatalf("topic %s: created %v with %d partitions, want a new one with %d", topic, created, n, partitions)
	}
}

// run runs an outside tool with stdin and returns its stdout; a failure
// fails the test with its stderr.
func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx(t), name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstderr:\n%s\nstdout:\n%s", name, strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	if stderr.Len() > 0 {
		t.Logf("%s %s: stderr:\n%s", filepath.Base(name), args[0], stderr.String())
	}
	return stdout.String()
}

// consume runs segmerge's consumer (simple mode, from the beginning, to the
// end, its own group) on topic; out is a JSONL file, or "" for no sink.
func consume(t *testing.T, c *broker.Cluster, topic, out string, edit func(*consumer.Config)) consumer.Stats {
	t.Helper()
	cfg := consumer.DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Group = c.Addrs(), topic, "interop-"+topic
	cfg.FromBeginning, cfg.ExitAtEnd, cfg.CommitInterval = true, true, 50*time.Millisecond
	var f *sink.Writer
	if out != "" {
		var err error
		if f, err = sink.Create(out, sink.JSONL); err != nil {
			t.Fatal(err)
		}
		cfg.Sink = f
	}
	if edit != nil {
		edit(&cfg)
	}
	st, err := consumer.Run(ctx(t), cfg)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// verifyOK checks an output (file or topic) against an input log and
// returns the number of batches verified.
func verifyOK(t *testing.T, cfg verify.Config) int64 {
	t.Helper()
	rep, err := verify.Run(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("%s\nproblems: %v", rep.Summary(), rep.Problems)
	}
	return rep.Batches
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	return slices.DeleteFunc(strings.Split(s, "\n"), func(l string) bool { return l == "" })
}
