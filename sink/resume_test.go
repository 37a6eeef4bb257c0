package sink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, w *Writer, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		w.Begin(id)
		w.Write([]int64{id, id + 1})
		w.End()
	}
}

// A resumed file keeps its whole lines, cuts a torn one, and drops batches
// it already holds, whatever the line length and format.
func TestOpenResumes(t *testing.T) {
	long := strings.Repeat("7,", 100) // lines longer than the 64-byte peek
	tests := []struct {
		name     string
		format   Format
		existing string
		last     int64
		want     string // after writing batches 3, 4, 5
	}{
		{"new file", JSONL, "", -1,
			`{"batch_id":3,"data":[3,4]}` + "\n" + `{"batch_id":4,"data":[4,5]}` + "\n" + `{"batch_id":5,"data":[5,6]}` + "\n"},
		{"whole lines", JSONL, `{"batch_id":3,"data":[3,4]}` + "\n", 3,
			`{"batch_id":3,"data":[3,4]}` + "\n" + `{"batch_id":4,"data":[4,5]}` + "\n" + `{"batch_id":5,"data":[5,6]}` + "\n"},
		{"torn last line", JSONL, `{"batch_id":3,"data":[3,4]}` + "\n" + `{"batch_id":4,"da`, 3,
			`{"batch_id":3,"data":[3,4]}` + "\n" + `{"batch_id":4,"data":[4,5]}` + "\n" + `{"batch_id":5,"data":[5,6]}` + "\n"},
		{"only a torn line", JSONL, `{"batch_id":3,"da`, -1,
			`{"batch_id":3,"data":[3,4]}` + "\n" + `{"batch_id":4,"data":[4,5]}` + "\n" + `{"batch_id":5,"data":[5,6]}` + "\n"},
		{"long last line", JSONL, `{"batch_id":4,"data":[` + long + `7]}` + "\n", 4,
			`{"batch_id":4,"data":[` + long + `7]}` + "\n" + `{"batch_id":5,"data":[5,6]}` + "\n"},
		{"text", Text, "batch 4: 4 5\nbatch 5: 5", 4,
			"batch 4: 4 5\nbatch 5: 5 6\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out")
			if tt.existing != "" {
				os.WriteFile(path, []byte(tt.existing), 0o644)
			}
			w, last, err := Open(path, tt.format, false)
			if err != nil {
				t.Fatal(err)
			}
			if last != tt.last {
				t.Fatalf("last %d, want %d", last, tt.last)
			}
			write(t, w, 3, 4, 5)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.want {
				t.Fatalf("file:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestOpenOverwriteAndForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	os.WriteFile(path, []byte(`{"batch_id":9,"data":[]}`+"\n"), 0o644)
	w, last, err := Open(path, JSONL, true)
	if err != nil || last != -1 {
		t.Fatalf("overwrite: last %d err %v", last, err)
	}
	write(t, w, 1)
	w.Close()
	if got, _ := os.ReadFile(path); string(got) != `{"batch_id":1,"data":[1,2]}`+"\n" {
		t.Fatalf("overwrite: %s", got)
	}
	os.WriteFile(path, []byte("hello world\n"), 0o644)
	if _, _, err := Open(path, JSONL, false); err == nil || !strings.Contains(err.Error(), "not a segmerge jsonl line") {
		t.Fatalf("foreign file: %v", err)
	}
}
