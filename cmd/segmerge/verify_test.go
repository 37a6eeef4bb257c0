package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// verify says a new user's mistakes once, plainly, naming the file and
// what to change: a text-format output, swapped files, empty files, a
// topic that does not exist; and counts in the singular when they are one.
func TestVerifyMessages(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	var in, out, text strings.Builder
	for id := range 1100 {
		fmt.Fprintf(&in, `{"batch_id":%d,"segment_id":0,"segments":1,"data":[1,2,3]}`+"\n", id)
		fmt.Fprintf(&out, `{"batch_id":%d,"data":[1,2,3]}`+"\n", id)
		fmt.Fprintf(&text, "batch %d: 1 2 3\n", id)
	}
	input, output, textOut := write("in.jsonl", in.String()), write("out.jsonl", out.String()), write("out.txt", text.String())
	empty1, empty2 := write("empty1", ""), write("empty2", "")
	one := write("one.jsonl", `{"batch_id":0,"segment_id":0,"segments":1,"data":[1]}`+"\n")
	oneOut := write("one-out.jsonl", `{"batch_id":0,"data":[2]}`+"\n")
	gap := write("gap.jsonl", strings.Join(strings.Split(out.String(), "\n")[:1], "\n")+"\n")

	_, addr := brokerProc(t, filepath.Join(dir, "data"))
	tests := []struct {
		name   string
		args   []string
		stdout string   // the whole of stdout, if set
		stderr []string // in stderr
		lines  int      // lines of stderr, if set
	}{
		{"text output", []string{"--input-log", input, "--out-file", textOut}, "", []string{
			"segmerge: output file " + textOut + ` is not JSON Lines output (it looks like the text format): line 1 is "batch 0: 1 2 3"`,
			"consume writes with --format jsonl"}, 1},
		{"swapped", []string{"--input-log", output, "--out-file", input}, "", []string{
			"segmerge: the input log and the output file look swapped: input log " + output + " line 1 is an output record",
			"give the producer's log as --input-log and the consumer's output as --out-file"}, 1},
		{"both empty", []string{"--input-log", empty1, "--out-file", empty2}, "", []string{
			"segmerge: input log " + empty1 + " and output file " + empty2 + " are both empty: nothing to verify"}, 1},
		{"empty input log", []string{"--input-log", empty1, "--out-file", output}, "", []string{
			"segmerge: input log " + empty1 + " is empty: nothing to verify"}, 1},
		{"one problem", []string{"--input-log", one, "--out-file", oneOut},
			"verify: FAILED: 1 problem in 1 expected batch; first: batch 0: " + oneOut + " line 1: 1 integer (fingerprint",
			[]string{"  batch 0: " + oneOut + " line 1: 1 integer (fingerprint"}, 1},
		{"many missing", []string{"--input-log", input, "--out-file", gap},
			"verify: FAILED: 1099 problems in 1100 expected batches; first: batch 1: missing from the output",
			[]string{"  batch 1: missing from the output\n  batch 2: missing from the output\n  batch 3: missing from the output\n  ... and 1096 more batches missing from the output\n"}, 4},
		{"no such topic", []string{"-b", addr, "--input-log", input, "--output-topic", "nosuch"}, "", []string{
			"segmerge: output topic nosuch does not exist; check --output-topic, and -b if the topic is on another cluster"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(append([]string{"verify"}, tt.args...)...)
			if code != exitFailure {
				t.Errorf("exit %d, want %d", code, exitFailure)
			}
			if tt.stdout != "" && !strings.HasPrefix(stdout, tt.stdout) || tt.stdout == "" && stdout != "" {
				t.Errorf("stdout:\n%s\nwant it to start:\n%s", stdout, tt.stdout)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr:\n%s\nwant it to contain:\n%s", stderr, want)
				}
			}
			if n := strings.Count(stderr, "\n"); tt.lines > 0 && n != tt.lines {
				t.Errorf("%d lines of stderr, want %d:\n%s", n, tt.lines, stderr)
			}
		})
	}
}
