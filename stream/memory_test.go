package stream_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/metrics"
	"github.com/segmerge/segmerge/stream"
)

// Skew the stream must hold: partition 1's keys all come after partition
// 0's, so everything read of partition 1 waits until partition 0 is done.
// With --memory 64MiB (the least) the records held stay within their share plus two
// fetches a partition (a fetch brings at least one record batch whole,
// and its limits count compressed bytes: the producer here writes small
// batches, not compressed), partition 1 is paused meanwhile, and the
// output is the reference merge.
func TestStreamHoldsWithinBudgetUnderSkew(t *testing.T) {
	c := cluster(t)
	addrs := c.Addrs()
	const per = 12000 // 12 MB a partition, about twice the held share at the least --memory
	pad := strings.Repeat("x", 1000)
	lanes := make([][]in, 2)
	for p := range lanes {
		for i := range per {
			ts := int64(p*per + i)
			lanes[p] = append(lanes[p], in{part: int32(p), offset: int64(i), ts: ts, value: fmt.Sprintf(`{"ts":%d,"pad":%q}`, ts, pad)})
		}
	}
	// A fetch's limits count the bytes on the wire: batches of at most
	// 64KiB, not compressed, keep what a fetch of a partition brings
	// within its share once decoded.
	produceInput(t, addrs, "skewed", lanes, kgo.ProducerBatchMaxBytes(64<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	want, _ := reference(lanes)

	cfg := config(addrs, "skewed")
	cfg.Memory, cfg.Metrics, cfg.Log = budget.Min, new(metrics.Run), testLog(t)
	shares := budget.Split(cfg.Memory, 2)
	bound := int64(shares.Held) + 2*2*int64(shares.PartitionBytes)
	var peakHeld, peakPaused atomic.Int64
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if h := cfg.Metrics.HeldBytes.Load(); h > peakHeld.Load() {
				peakHeld.Store(h)
			}
			if p := cfg.Metrics.PausedPartitions.Load(); p > peakPaused.Load() {
				peakPaused.Store(p)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	st, err := stream.Run(testCtx(t), cfg)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v; peak held %d bytes (bound %d), peak paused %d partitions", st, peakHeld.Load(), bound, peakPaused.Load())
	switch {
	case peakHeld.Load() > bound:
		t.Fatalf("held %d bytes at the peak, over the share %d plus two fetches a partition (%d)", peakHeld.Load(), shares.Held, bound)
	case peakPaused.Load() == 0:
		t.Fatal("no partition was paused: the input did not make the stream hold records")
	}
	checkOutput(t, "skewed", readCommitted(t, addrs, "skewed.ordered", len(want), 60*time.Second), want)
}
