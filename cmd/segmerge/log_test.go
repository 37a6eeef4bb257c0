package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A flood of one kind of line prints one line every repeatEvery, the
// next carrying how many were held back; other kinds pass; a library's
// {Field} comes out as a flag; a long value is cut.
func TestLogHandlerHoldsBackRepeats(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	h := newLogHandler(slog.NewJSONHandler(&buf, nil), func(f string) string { return "--" + strings.ToLower(f) })
	h.state.now = func() time.Time { return now }
	log := slog.New(h)
	for i := range 1000 {
		log.Warn("fetch error", "partition", i%10, "err", errors.New("UNKNOWN_TOPIC_ID: the topic is gone"))
	}
	log.Warn("bad record", "reason", "not-json", "source", "t/0@1")
	log.Warn("bad record", "reason", "unsorted", "source", "t/0@2")
	log.Warn("bad record", "reason", "not-json", "source", "t/0@3") // held back
	now = now.Add(repeatEvery)
	log.Warn("fetch error", "partition", 3, "err", errors.New("UNKNOWN_TOPIC_ID: the topic is gone"))
	log.Info("give {Memory} more", "err", strings.Repeat("x", 5000))

	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5: %v", len(lines), lines)
	}
	if lines[3]["msg"] != "fetch error" || lines[3]["repeated"] != float64(999) {
		t.Fatalf("the fetch error after the pause: %v, want repeated=999", lines[3])
	}
	if lines[4]["msg"] != "give --memory more" || len(lines[4]["err"].(string)) > maxAttr+40 {
		t.Fatalf("last line %v: want the flag named and the value cut", lines[4]["msg"])
	}
}
