package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStreamBadUsageExits2NamingTheFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"stream", "--output-topic", "o"}, "invalid --topic: must be given"},
		{[]string{"stream", "-t", "in"}, "give --output-topic or --out-file"},
		{[]string{"stream", "-t", "in", "--output-topic", "o", "--out-file", "f"}, "give exactly one of --output-topic and --out-file"},
		{[]string{"stream", "-t", "in", "--output-topic", "in"}, "must differ from the input --topic"},
		{[]string{"stream", "-t", "in", "--out-file", "f", "--by", "offset"}, `invalid --by "offset": must be timestamp or field:NAME`},
		{[]string{"stream", "-t", "in", "--out-file", "f", "--by", "field:"}, `invalid --by "field:"`},
		{[]string{"stream", "-t", "in", "--out-file", "f", "--idle-timeout", "soon"}, `invalid --idle-timeout "soon": must be a duration (1s, 500ms) or none`},
		{[]string{"stream", "-t", "in", "--out-file", "f", "--idle-timeout", "-1s"}, `invalid --idle-timeout "-1s"`},
		{[]string{"stream", "-t", "in", "--out-file", "f", "--output-partition", "2"}, "invalid --output-partition 2: needs --output-topic"},
		{[]string{"stream", "-t", "in", "--output-topic", "o", "--output-partition", "-2"}, "invalid --output-partition -2: must be >= 0"},
		{[]string{"stream", "-t", "in", "--output-topic", "o", "--memory", "1MiB"}, `invalid --memory "1MiB": must be at least 64MiB`},
		{[]string{"stream", "-t", "in", "--output-topic", "o", "--session-timeout", "30s"}, "invalid --transaction-timeout 20s: must be at least 32s"},
		{[]string{"stream", "-t", "in", "--output-topic", "o", "extra"}, "unknown command"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := run(tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// produce --shape stream, then stream -e into a file: every record once,
// in (timestamp, partition, offset) order; run again, the file is resumed
// and nothing is written twice.
func TestStreamCLI(t *testing.T) {
	dir := t.TempDir()
	br, addr := brokerProc(t, filepath.Join(dir, "data"))
	defer br.interrupt(t)
	prod := start(t, nil, "produce", "-b", addr, "--shape", "stream", "-t", "ticks", "--partitions", "3", "--records", "2000", "--seed", "5")
	if code := prod.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("produce --shape stream: exit %d\n%s", code, prod.stderr.String())
	}
	out := filepath.Join(dir, "ordered.jsonl")
	for run := range 2 {
		s := start(t, nil, "stream", "-b", addr, "-t", "ticks", "--by", "field:ts", "--from-beginning", "-e", "--out-file", out, "--commit-interval", "100ms")
		if code := s.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("stream, run %d: exit %d\n%s", run, code, s.stderr.String())
		}
		if !strings.Contains(s.stderr.String(), "in key order") {
			t.Fatalf("stream, run %d, printed no summary:\n%s", run, s.stderr.String())
		}
	}
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ P, Seq, Ts int64 }
	var prev rec
	seen := map[[2]int64]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		var r rec
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		if i > 0 && (r.Ts < prev.Ts || r.Ts == prev.Ts && (r.P < prev.P || r.P == prev.P && r.Seq <= prev.Seq)) {
			t.Fatalf("line %d %q after %+v: out of order", i, line, prev)
		}
		if seen[[2]int64{r.P, r.Seq}] {
			t.Fatalf("line %d %q: written twice", i, line)
		}
		seen[[2]int64{r.P, r.Seq}] = true
		prev = r
	}
	if len(seen) != 6000 {
		t.Fatalf("%d records in %s, want 6000", len(seen), out)
	}
}

// bench --workload stream end to end, small: the stream's row is there,
// in order, with its figures and the ceilings it was measured against
// (kcat's where kcat is installed).
// Not a timed test: it checks the figures exist, not how large they are.
func TestBenchStream(t *testing.T) {
	out, err := os.CreateTemp(t.TempDir(), "bench-*.json")
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, out, "bench", "--workload", "stream", "--batches", "2000", "--json", "-q")
	if code := p.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("bench: exit %d; stderr:\n%s", code, p.stderr.String())
	}
	body, _ := os.ReadFile(out.Name())
	var rep struct {
		Rows    []map[string]any `json:"rows"`
		Latency []map[string]any `json:"latency"`
	}
	if err := json.Unmarshal(body, &rep); err != nil || len(rep.Rows) != 1 {
		t.Fatalf("bench --json: %v, want one row:\n%s", err, body)
	}
	r := rep.Rows[0]
	if r["workload"] != "stream" || r["records"] != float64(8000) || r["verified"] != true {
		t.Fatalf("row %v: want stream, 8000 records, in order", r)
	}
	for _, k := range []string{"records_per_second", "mb_per_second", "peak_rss_bytes", "ceiling_mb_per_second", "pipeline_over_ceiling"} {
		if v, ok := r[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive figure", k, r[k])
		}
	}
	if _, err := exec.LookPath("kcat"); err == nil {
		if v, ok := r["kcat_mb_per_second"].(float64); !ok || v <= 0 {
			t.Errorf("kcat is installed, but kcat_mb_per_second = %v", r["kcat_mb_per_second"])
		}
	}
	// The emit latency, following a steady feed of --batches records.
	if len(rep.Latency) != 1 {
		t.Fatalf("%d latency rows, want the stream's emit latency:\n%s", len(rep.Latency), body)
	}
	l := rep.Latency[0]
	if l["workload"] != "stream" || l["sink"] != "file" || l["batches"] != float64(2000) || l["verified"] != true {
		t.Fatalf("latency row %v: want stream, file, 2000 records, in order", l)
	}
	prev := 0.0
	for _, k := range []string{"p50_ms", "p99_ms", "p999_ms", "max_ms"} {
		if v, ok := l[k].(float64); !ok || v <= 0 || v < prev {
			t.Errorf("%s = %v, want a positive figure no less than the quantile before", k, l[k])
		} else {
			prev = v
		}
	}
}
