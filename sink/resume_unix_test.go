//go:build unix

package sink

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A file that is not regular is written, never resumed, cut or fsynced:
// /dev/null takes any number of batches, overwrite or not, and a named
// pipe passes every line to its reader. A regular file still resumes (see
// TestOpenResumes).
func TestOpenDeviceOrPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		overwrite bool
		read      bool // read what reaches the file, and compare
	}{
		{"/dev/null", "/dev/null", false, false},
		{"/dev/null overwrite", "/dev/null", true, false},
		{"named pipe", fifo, false, true},
	}
	const want = `{"batch_id":3,"data":[3,4]}` + "\n" + `{"batch_id":4,"data":[4,5]}` + "\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			if tt.read {
				go func() {
					b, err := os.ReadFile(tt.path) // opening waits for the writer
					if err != nil {
						t.Error(err)
					}
					got <- string(b)
				}()
			}
			w, last, err := Open(tt.path, JSONL, tt.overwrite)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if last != -1 {
				t.Fatalf("last %d, want -1: nothing to resume", last)
			}
			write(t, w, 3, 4)
			if err := w.Flush(context.Background()); err != nil {
				t.Fatalf("flush: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if tt.read {
				if s := <-got; s != want {
					t.Fatalf("the reader got %q, want %q", s, want)
				}
			}
		})
	}
}
