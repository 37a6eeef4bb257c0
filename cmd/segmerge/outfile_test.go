package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// --out-file takes a file that is not regular: consume writes every batch
// to /dev/null (no resume, no truncate) and exits 0, as it does to a new
// regular file, and again to the same /dev/null in the same group.
func TestConsumeOutFileDevNull(t *testing.T) {
	dir := t.TempDir()
	br, addr := brokerProc(t, filepath.Join(dir, "data"))
	defer br.interrupt(t)
	prod := start(t, nil, "produce", "-b", addr, "--batches", "20", "--seed", "1", "-q")
	if code := prod.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("produce: exit %d\n%s", code, prod.stderr.String())
	}
	tests := []struct {
		name, group string
		args        []string
	}{
		{"new group", "null", nil},
		{"overwrite", "null-overwrite", []string{"--overwrite"}},
		{"text", "null-text", []string{"--format", "text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"consume", "-b", addr, "-e", "--from-beginning", "-g", tt.group, "--out-file", "/dev/null"}, tt.args...)
			code, _, stderr := run(args...)
			if code != 0 || !strings.Contains(stderr, "merged 20 batches") {
				t.Fatalf("%v: exit %d, stderr:\n%s", args, code, stderr)
			}
		})
	}
}
