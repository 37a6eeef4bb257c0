package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = execute(args, &o, &e)
	return code, o.String(), e.String()
}

func TestBadUsageExits2NamingTheFlag(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"produce", "--partitions", "0"}, "invalid --partitions 0: must be >= 1"},
		{[]string{"produce", "--max-len", "3"}, "invalid --max-len 3: must be >= --min-len 10"},
		{[]string{"produce", "--max-value", "0"}, "invalid --max-value 0: must be >= --min-value 1"},
		{[]string{"produce", "--layout", "diagonal"}, `invalid --layout "diagonal": must be segment or batch`},
		{[]string{"produce", "--chunk-size", "-1"}, "invalid --chunk-size -1"},
		{[]string{"produce", "--compression", "brotli"}, `invalid --compression "brotli": must be none, gzip, snappy, lz4 or zstd`},
		{[]string{"produce", "--batches", "many"}, `invalid argument "many" for "--batches"`},
		{[]string{"produce", "-b", "localhost"}, `needs host:port`},
		{[]string{"consume", "--mode", "fast"}, `invalid --mode "fast": must be simple, scalable or concurrent`},
		{[]string{"consume", "--format", "xml"}, "invalid --format"},
		{[]string{"consume", "--segments", "0"}, "invalid --segments 0"},
		{[]string{"consume", "--consumers", "3"}, "only --mode scalable"},
		{[]string{"consume", "--output-topic", "segment-topic"}, "must differ from the input --topic"},
		{[]string{"consume", "--frobnicate"}, "unknown flag: --frobnicate"},
		{[]string{"consume", "--layout", "diagonal"}, `invalid --layout "diagonal": must be segment or batch`},
		{[]string{"consume", "--stage", "shuffle"}, `invalid --stage "shuffle": must be merge or repartition`},
		{[]string{"consume", "--output-topic", "m", "--transaction-timeout", "11s"}, "invalid --transaction-timeout 11s: must be at least 12s, --session-timeout plus"},
		{[]string{"consume", "--output-topic", "m", "--session-timeout", "30s"}, "invalid --transaction-timeout 20s: must be at least 32s"},
		{[]string{"consume", "--stage", "repartition", "--out-file", "x"}, "--stage repartition writes only <topic>.by-batch: drop --out-file"},
		{[]string{"consume", "--stage", "repartition", "-c", "5"}, "invalid --count 5 with --stage repartition"},
		{[]string{"consume", "--stage", "repartition", "--mode", "concurrent"}, "invalid --mode concurrent with --stage repartition"},
		{[]string{"consume", "--stage", "repartition", "--layout", "batch"}, "a batch-layout topic needs no repartition stage"},
		{[]string{"consume", "--stage", "repartition", "--output-topic", "segment-topic"}, "must differ from the input --topic"},
		{[]string{"verify", "--out-file", "x"}, "--input-log is required"},
		{[]string{"verify", "--input-log", "x"}, "exactly one of --out-file and --output-topic"},
		{[]string{"broker", "--listen", ","}, "invalid --listen"},
		{[]string{"broker", "--listen", "39091"}, `invalid --listen "39091": needs host:port, as in 127.0.0.1:39091`},
		{[]string{"broker", "--listen", "127.0.0.1:9091,localhost:x"}, `invalid --listen "localhost:x": the port must be a number`},
		{[]string{"broker", "--log-level", "loud"}, `invalid --log-level: "loud" is not none`},
		{[]string{"broker", "--listen", "0.0.0.0:9091"}, `invalid --listen "0.0.0.0:9091": binds every interface, and clients cannot connect to a wildcard address: give --advertise HOST`},
		{[]string{"broker", "--listen", "0.0.0.0:9091", "--advertise", "kafka.example"}, `invalid --listen "0.0.0.0:9091": serves everyone who can reach it, with no authentication: give --sasl users, or --insecure to serve it open anyway`},
		{[]string{"broker", "--listen", "127.0.0.1:9091,192.0.2.2:9092"}, `invalid --listen "192.0.2.2:9092": serves everyone who can reach it`},
		{[]string{"broker", "--listen", ":9091", "--advertise", "kafka.example", "--sasl", "PLAIN:u:p"}, `invalid --listen ":9091": would receive PLAIN passwords in clear text: add --tls, use SCRAM users, or give --insecure`},
		{[]string{"broker", "--advertise", "0.0.0.0"}, `invalid --advertise "0.0.0.0": is a wildcard address`},
		{[]string{"broker", "--advertise", "kafka.example:9091"}, `invalid --advertise "kafka.example:9091": names one port for 3 brokers: give HOST alone to keep each broker's port, or one HOST:PORT per --listen address`},
		{[]string{"broker", "--advertise", "a,b"}, `invalid --advertise "a,b": names 2 addresses for 3 brokers`},
		{[]string{"broker", "--advertise", "a:b:c"}, `invalid --advertise "a:b:c": needs HOST or HOST:PORT`},
		{[]string{"broker", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, `invalid --tls-cert "c.pem": is served only with --tls`},
		{[]string{"broker", "--tls", "--tls-cert", "c.pem"}, `invalid --tls-cert "c.pem": needs --tls-key too`},
		{[]string{"broker", "--tls", "--tls-key", "k.pem"}, `invalid --tls-key "k.pem": needs --tls-cert too`},
		{[]string{"broker", "--tls", "--data-dir", ""}, `invalid --tls: with no --tls-cert needs a --data-dir to keep the CA it makes in`},
		{[]string{"demo", "--batches", "0"}, "invalid --batches 0"},
		{[]string{"bench", "--workload", "seed,nope"}, `invalid --workload "nope": must be one of seed, bulk, scale, latency, huge-1m, huge`},
		{[]string{"bench", "--mode", "fast"}, `invalid --mode "fast"`},
		{[]string{"bench", "--compression", "brotli"}, `invalid --compression "brotli"`},
		{[]string{"bench", "--batches", "-1"}, "invalid --batches -1"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"produce", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := run(tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tt.want)
			}
			if !strings.Contains(stderr, "--help") {
				t.Fatalf("stderr %q does not point at --help", stderr)
			}
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"", "broker", "produce", "consume", "stream", "verify", "demo", "bench"} {
		args := slices.DeleteFunc([]string{cmd, "--help"}, func(s string) bool { return s == "" })
		code, stdout, _ := run(args...)
		if code != 0 || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "segmerge") {
			t.Fatalf("segmerge %s --help: exit %d, no examples:\n%s", cmd, code, stdout)
		}
	}
}

func TestVerifyExitCodes(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	out := filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte(`{"batch_id":0,"segment_id":0,"segments":1,"data":[2,3]}`+"\n"), 0o644)
	os.WriteFile(out, []byte(`{"batch_id":0,"data":[2,3]}`+"\n"), 0o644)
	if code, stdout, stderr := run("verify", "--input-log", in, "--out-file", out); code != 0 || !strings.HasPrefix(stdout, "verify: OK: 1 batch, 2 integers") {
		t.Fatalf("good output: exit %d %q %q", code, stdout, stderr)
	}
	os.WriteFile(out, []byte(`{"batch_id":0,"data":[2,4]}`+"\n"), 0o644)
	code, stdout, stderr := run("verify", "--input-log", in, "--out-file", out)
	if code != exitFailure || !strings.Contains(stdout, "FAILED") || !strings.Contains(stderr, "batch 0:") {
		t.Fatalf("bad output: exit %d %q %q", code, stdout, stderr)
	}
	if code, _, stderr := run("verify", "--input-log", filepath.Join(dir, "nope"), "--out-file", out); code != exitFailure || !strings.Contains(stderr, "read input log: open "+filepath.Join(dir, "nope")) {
		t.Fatalf("missing input log: exit %d %q", code, stderr)
	}
}

// With no broker, a run fails at once with a hint, not a hang or a
// misleading "0 batches" summary.
func TestNoBrokerSaysWhatToDo(t *testing.T) {
	for _, cmd := range []string{"consume", "produce"} {
		code, _, stderr := run(cmd, "-e", "-b", "127.0.0.1:1")
		if cmd == "produce" {
			code, _, stderr = run(cmd, "--batches", "1", "-b", "127.0.0.1:1")
		}
		if code != exitFailure || !strings.Contains(stderr, "no broker answered") || strings.Contains(stderr, " 0 batches") {
			t.Fatalf("%s: exit %d, stderr %q", cmd, code, stderr)
		}
	}
}

// The README's first command: the demo verifies every mode and every
// stream, and says so.
func TestDemo(t *testing.T) {
	code, stdout, stderr := run("demo", "--batches", "200", "-q")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, mode := range []string{"simple", "scalable", "concurrent"} {
		if !strings.Contains(stdout, mode) {
			t.Fatalf("no %s row:\n%s", mode, stdout)
		}
	}
	for _, to := range []string{"to a topic", "to a file"} {
		if !strings.Contains(stdout, to) {
			t.Fatalf("no stream %s row:\n%s", to, stdout)
		}
	}
	if strings.Count(stdout, " yes") != 5 || !strings.Contains(stderr, "every mode verified") || !strings.Contains(stderr, "every stream in key order") {
		t.Fatalf("not every mode verified:\n%s\n%s", stdout, stderr)
	}
}

// version and --version name the build, its Go and its franz-go.
func TestVersion(t *testing.T) {
	var outs []string
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var stdout, stderr bytes.Buffer
		if code := execute(args, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		outs = append(outs, stdout.String())
	}
	if outs[0] != outs[1] {
		t.Fatalf("version says %q, --version %q", outs[0], outs[1])
	}
	if !strings.HasPrefix(outs[0], "segmerge ") || !strings.Contains(outs[0], runtime.Version()) || !strings.Contains(outs[0], "franz-go v1.") {
		t.Fatalf("version: %q, want segmerge's, %s and franz-go's", outs[0], runtime.Version())
	}
}
