package stream_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmerge/segmerge/internal/setting"
	"github.com/segmerge/segmerge/stream"
	"github.com/segmerge/segmerge/wire"
)

// By a JSON field: records ordered by it whatever their timestamps, and
// every record whose key cannot be read dead-lettered with its reason,
// in place, the stream going on past it.
func TestStreamByFieldDeadLettersBadRecords(t *testing.T) {
	c := cluster(t)
	addrs := c.Addrs()
	bad := map[string]string{
		`not json`:        wire.ReasonNotJSON,
		`{"seq":"7"}`:     wire.ReasonType,
		`{"other":1}`:     wire.ReasonMissing,
		`{"seq":1.5}`:     wire.ReasonNotInteger,
		`{"seq":1e99999}`: wire.ReasonNotInteger,
	}
	var lanes [][]in
	var want []in
	for p := range int32(2) {
		var lane []in
		for i := range 50 {
			seq := int64(i*2) + int64(p)
			r := in{part: p, offset: int64(len(lane)), ts: 1000 - seq, value: fmt.Sprintf(`{"seq":%d}`, seq)}
			lane = append(lane, r)
			want = append(want, r)
			if i%10 == 5 {
				for v := range bad {
					lane = append(lane, in{part: p, offset: int64(len(lane)), ts: 1, value: v})
				}
			}
		}
		lanes = append(lanes, lane)
	}
	slices.SortFunc(want, func(a, b in) int { return int(seqOf(a.value) - seqOf(b.value)) })
	produceInput(t, addrs, "fields", lanes)
	cfg := config(addrs, "fields")
	cfg.By, cfg.Log = "field:seq", testLog(t)
	st, err := stream.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	nbad := 2 * 5 * len(bad)
	if st.Records != int64(len(want)) || st.Bad != int64(nbad) {
		t.Fatalf("stats %+v; want %d records, %d bad", st, len(want), nbad)
	}
	checkOutput(t, "fields", readCommitted(t, addrs, "fields.ordered", len(want), 30*time.Second), want)
	dead := readCommitted(t, addrs, "fields.dlq", nbad, 30*time.Second)
	for _, d := range dead {
		if bad[d.value] != d.reason {
			t.Fatalf("dead letter %q with reason %q, want %q", d.value, d.reason, bad[d.value])
		}
	}
}

func seqOf(v string) int64 {
	var n int64
	fmt.Sscanf(v, `{"seq":%d}`, &n)
	return n
}

// An output topic with more than one partition is refused, naming
// OutputPartition; with it, the stream goes to that partition only.
func TestStreamOutputPartition(t *testing.T) {
	c := cluster(t)
	addrs := c.Addrs()
	lanes := sortedInput(5, shape{parts: 2, perPart: 100})
	produceInput(t, addrs, "two", lanes)
	if _, err := admin(t, addrs).CreateTopic(testCtx(t), 3, -1, nil, "wide"); err != nil {
		t.Fatal(err)
	}
	cfg := config(addrs, "two")
	cfg.OutputTopic = "wide"
	_, err := stream.Run(testCtx(t), cfg)
	var se *setting.Error
	if !errors.As(err, &se) || se.Field != "OutputTopic" || !strings.Contains(err.Error(), "name the one to write with OutputPartition") {
		t.Fatalf("a 3-partition output topic: %v; want it refused, naming OutputPartition", err)
	}
	cfg.OutputPartition = 2
	if _, err := stream.Run(testCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	want, _ := reference(lanes)
	got := readCommitted(t, addrs, "wide", len(want), 30*time.Second)
	checkOutput(t, "two", got, want)
	ends, err := admin(t, addrs).ListEndOffsets(testCtx(t), "wide")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		if o, _ := ends.Lookup("wide", p); o.Offset != 0 {
			t.Fatalf("partition %d of the output topic holds %d records, want none", p, o.Offset)
		}
	}
}

// A file written past its last commit (a crash between writing and
// committing) is cut back to the committed length at the next start,
// and a file the group never wrote is refused.
func TestStreamFileCutBack(t *testing.T) {
	c := cluster(t)
	addrs := c.Addrs()
	lanes := sortedInput(6, shape{parts: 3, perPart: 100})
	produceInput(t, addrs, "lines", lanes)
	want, _ := reference(lanes)
	out := filepath.Join(t.TempDir(), "ordered.jsonl")
	cfg := config(addrs, "lines")
	cfg.OutputTopic, cfg.OutFile = "", out
	if _, err := stream.Run(testCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("a line written after the last commit\n")
	f.Close()
	if _, err := stream.Run(testCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(out)
	var wantBody strings.Builder
	for _, w := range want {
		wantBody.WriteString(w.value + "\n")
	}
	if string(body) != wantBody.String() {
		t.Fatalf("the file holds %d bytes, want the %d of the reference merge", len(body), wantBody.Len())
	}
	other := cfg
	other.Group = "another"
	if _, err := stream.Run(testCtx(t), other); err == nil || !strings.Contains(err.Error(), "has not committed to it") {
		t.Fatalf("a file another group wrote: %v; want it refused", err)
	}
}
