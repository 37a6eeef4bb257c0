package stream_test

import (
	"log/slog"
	"regexp"
	"strconv"
	"testing"

	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/stream"
)

// A topic of small records holds many more of them in the budget's
// partition share than a run fetches at once: stream fits its fetches to
// them, below the share, and still writes every record in order.
func TestStreamFitsFetchesToSmallRecords(t *testing.T) {
	c := cluster(t)
	addrs := c.Addrs()
	lanes := sortedInput(5, shape{parts: 4, perPart: 5000})
	produceInput(t, addrs, "small", lanes)
	want, _ := reference(lanes)
	var logged syncBuffer
	cfg := config(addrs, "small")
	cfg.Log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := stream.Run(testCtx(t), cfg)
	if err != nil || st.Records != int64(len(want)) {
		t.Fatalf("stats %+v, err %v; want %d records", st, err, len(want))
	}
	m := regexp.MustCompile(`partition fetch size fitted to the records" topic=small bytes=(\d+)`).FindStringSubmatch(logged.String())
	if m == nil {
		t.Fatalf("the run did not fit its fetches to the records; it logged:\n%s", logged.String())
	}
	share := budget.Split(cfg.Memory, 4).PartitionBytes
	if b, _ := strconv.Atoi(m[1]); b >= int(share) || b < kafka.MinPartitionFetch {
		t.Fatalf("fitted a partition's fetch to %d bytes, want less than the share (%d) and at least %d", b, share, kafka.MinPartitionFetch)
	}
}
