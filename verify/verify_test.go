package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// input is a log of three 2-segment batches; batch 3 lacks segment 1, so it
// is incomplete and not expected in the output.
const input = `{"batch_id":0,"segment_id":0,"segments":2,"data":[1,5]}
{"batch_id":0,"segment_id":1,"segments":2,"data":[2]}
{"batch_id":1,"segment_id":1,"segments":2,"data":[]}
{"batch_id":1,"segment_id":0,"segments":2,"chunk":0,"last":false,"data":[3,4]}
{"batch_id":1,"segment_id":0,"segments":2,"chunk":1,"last":true,"data":[4,9]}
{"batch_id":2,"segment_id":0,"segments":2,"data":[7]}
{"batch_id":2,"segment_id":1,"segments":2,"data":[7]}
{"batch_id":3,"segment_id":0,"segments":2,"data":[8]}
`

var good = []string{
	`{"batch_id":0,"data":[1,2,5]}`,
	`{"batch_id":1,"data":[3,4,4,9]}`,
	`{"batch_id":2,"data":[7,7]}`,
}

func run(t *testing.T, lines []string) *Report {
	t.Helper()
	return runWith(t, lines, Config{})
}

// runWith verifies lines as an output file against input with cfg.
func runWith(t *testing.T, lines []string, cfg Config) *Report {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	out := filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte(input), 0o644)
	body := strings.Join(lines, "\n")
	if len(lines) > 0 {
		body += "\n"
	}
	os.WriteFile(out, []byte(body), 0o644)
	cfg.InputLog, cfg.OutFile = in, out
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestVerifyGood(t *testing.T) {
	rep := run(t, good)
	if !rep.OK() || rep.Batches != 3 || rep.Integers != 9 || rep.Incomplete != 1 {
		t.Fatalf("%s %+v", rep.Summary(), rep)
	}
	if !strings.Contains(rep.Summary(), "verify: OK: 3 batches, 9 integers") {
		t.Fatalf("summary %q", rep.Summary())
	}
}

func TestVerifyCatches(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		batch int64
		msg   string
	}{
		{"dropped", []string{good[0], good[2]}, 1, "missing"},
		{"duplicated", []string{good[0], good[1], good[1], good[2]}, 1, "appears 2 times"},
		{"reordered", []string{good[1], good[0], good[2]}, 0, "not ascending"},
		{"altered value", []string{good[0], `{"batch_id":1,"data":[3,4,5,9]}`, good[2]}, 1, "fingerprint"},
		{"altered length", []string{good[0], `{"batch_id":1,"data":[3,4,9]}`, good[2]}, 1, "3 integers"},
		{"incomplete batch emitted", []string{good[0], good[1], good[2], `{"batch_id":3,"data":[8]}`}, 3, "not a complete batch"},
		{"unknown batch", []string{good[0], good[1], good[2], `{"batch_id":99,"data":[]}`}, 99, "not a complete batch"},
		{"not json", []string{good[0], good[1], good[2], `{"batch_id":`}, -1, "line 4"},
		{"unsorted line", []string{good[0], `{"batch_id":1,"data":[9,3,4,4]}`, good[2]}, -1, "unsorted"},
		{"empty output", nil, 0, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := run(t, tt.lines)
			if rep.OK() {
				t.Fatalf("verify passed: %s", rep.Summary())
			}
			p := rep.Problems[0]
			if p.Batch != tt.batch || !strings.Contains(p.Msg, tt.msg) {
				t.Fatalf("first problem batch %d %q, want batch %d containing %q (all: %v)", p.Batch, p.Msg, tt.batch, tt.msg, rep.Problems)
			}
			if !strings.HasPrefix(rep.Summary(), "verify: FAILED") {
				t.Fatalf("summary %q", rep.Summary())
			}
		})
	}
}

// --unordered takes batches in any order and still checks each once.
func TestVerifyUnordered(t *testing.T) {
	reordered := []string{good[2], good[0], good[1]}
	if rep := runWith(t, reordered, Config{Unordered: true}); !rep.OK() || rep.Batches != 3 {
		t.Fatalf("reordered, --unordered: %s %v", rep.Summary(), rep.Problems)
	}
	for _, lines := range [][]string{
		{good[2], good[0], good[1], good[0]}, // a repeat
		{good[2], good[1]},                   // a loss
	} {
		if rep := runWith(t, lines, Config{Unordered: true}); rep.OK() {
			t.Fatalf("%v passed --unordered: %s", lines, rep.Summary())
		}
	}
}
