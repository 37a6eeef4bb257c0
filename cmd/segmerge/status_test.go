package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/status"
)

// statusOf runs `segmerge status --json` and decodes what it printed.
func statusOf(t *testing.T, args ...string) *status.Report {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "status")
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, out, append([]string{"status", "--json"}, args...)...)
	mustExit(t, p, time.Minute, 0)
	b, _ := os.ReadFile(out.Name())
	var rep status.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("status --json printed %q: %v", b, err)
	}
	return &rep
}

// status reports a group's lag and lowest uncommitted batch before and
// after a consume, and its dead letters by reason apart from another
// group's; for a group that never ran it says so, exit 1.
func TestStatusReportsLagAndDeadLetters(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	dir := t.TempDir()
	_, addr := brokerProc(t, filepath.Join(dir, "data"))
	out := filepath.Join(dir, "out.jsonl")
	mustExit(t, start(t, nil, "produce", "-b", addr, "--batches", "20", "-q"), time.Minute, 0)
	mustExit(t, start(t, nil, "consume", "-b", addr, "-g", "g1", "-e", "--from-beginning", "--out-file", out, "-q"), time.Minute, 0)

	mustExit(t, start(t, nil, "produce", "-b", addr, "--batches", "10", "-q"), time.Minute, 0)
	bad := []*kgo.Record{
		{Topic: "segment-topic", Partition: 1, Value: []byte(`not json`)},
		{Topic: "segment-topic", Partition: 2, Value: []byte(`{"batch_id":30,"segment_id":2,"data":[5,4]}`)},
		{Topic: "segment-topic", Partition: 5, Value: []byte(`{"batch_id":30,"segment_id":5,"data":[6,5]}`)},
	}
	if err := rawClient(t, addr).ProduceSync(context.Background(), bad...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := statusOf(t, "-b", addr, "-g", "g1")
	if len(before.Topics) != 1 || before.Topics[0].Name != "segment-topic" {
		t.Fatalf("topics %+v, want segment-topic", before.Topics)
	}
	if tp := before.Topics[0]; tp.Lag != 10*10+3 || tp.LowestBatch != 20 || !tp.HasLowest || tp.DeadLetters == nil || tp.DeadLetters.Total != 0 {
		t.Fatalf("before the second consume: lag %d, lowest batch %d (%v), dead letters %+v; want 103, 20, none",
			tp.Lag, tp.LowestBatch, tp.HasLowest, tp.DeadLetters)
	}
	if before.State != "Empty" || len(before.Members) != 0 {
		t.Fatalf("group state %q with %d members, want Empty with none", before.State, len(before.Members))
	}

	mustExit(t, start(t, nil, "consume", "-b", addr, "-g", "g1", "-e", "--out-file", out, "-q"), time.Minute, 0)
	mustExit(t, start(t, nil, "consume", "-b", addr, "-g", "g2", "-e", "--from-beginning", "--out-file", filepath.Join(dir, "g2.jsonl"), "-q"), time.Minute, 0)
	after := statusOf(t, "-b", addr, "-g", "g1", "-t", "segment-topic")
	tp := after.Topics[0]
	if tp.Lag != 0 || tp.LowestBatch != 30 || tp.Uncommitted != 0 {
		t.Fatalf("after: lag %d, lowest batch %d, %d partitions uncommitted; want 0, 30, 0", tp.Lag, tp.LowestBatch, tp.Uncommitted)
	}
	d := tp.DeadLetters
	want := map[string]int64{"not-json": 1, "unsorted": 2}
	if d == nil || !d.Complete || d.Total != 3 || d.Others != 3 || len(d.ByReason) != len(want) {
		t.Fatalf("dead letters %+v, want 3 of g1's (%v) and 3 of g2's", d, want)
	}
	for r, n := range want {
		if d.ByReason[r] != n {
			t.Fatalf("dead letters by reason %v, want %v", d.ByReason, want)
		}
	}

	// The table says the same for people.
	txt, _ := os.CreateTemp(dir, "txt")
	mustExit(t, start(t, txt, "status", "-b", addr, "-g", "g1"), time.Minute, 0)
	b, _ := os.ReadFile(txt.Name())
	squeezed := regexp.MustCompile(` +`).ReplaceAllString(string(b), " ")
	for _, s := range []string{"lag 0; lowest batch not committed: 30", "dead letters: 3 in segment-topic.dlq, and 3 from other groups", "\nunsorted 2\n"} {
		if !strings.Contains(squeezed, s) {
			t.Fatalf("status does not say %q:\n%s", s, b)
		}
	}
	none := start(t, nil, "status", "-b", addr, "-g", "never-ran")
	mustExit(t, none, time.Minute, 1)
	if !strings.Contains(none.stderr.String(), "no members and no committed offsets") {
		t.Fatalf("for a group that never ran: %s", none.stderr.String())
	}
}
