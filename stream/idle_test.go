package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/stream"
)

// One partition of two is silent. With a 1s idle timeout the stream goes
// on without it about a second after the other has been read; a record
// that then arrives on it below what was written is late and goes to the
// dead letters, one above goes out. With no idle timeout the stream waits
// until the silent partition delivers, and again each time it has
// delivered all it holds.
func TestIdlePartition(t *testing.T) {
	c := cluster(t)
	addrs := c.Addrs()
	for _, tc := range []struct {
		name string
		idle time.Duration
	}{
		{"1s", time.Second},
		{"none", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "idle-" + tc.name
			lanes := [][]in{make([]in, 10), nil}
			for i := range lanes[0] {
				ts := int64(1000 + i)
				lanes[0][i] = in{part: 0, offset: int64(i), ts: ts, value: fmt.Sprintf(`{"ts":%d}`, ts)}
			}
			produceInput(t, addrs, topic, lanes)
			cfg := config(addrs, topic)
			cfg.ExitAtEnd, cfg.IdleTimeout, cfg.Log = false, tc.idle, testLog(t)
			ctx, cancel := context.WithCancel(testCtx(t))
			done := make(chan error, 1)
			start := time.Now()
			go func() { _, err := stream.Run(ctx, cfg); done <- err }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("run: %v", err)
				}
			}()

			if tc.idle < 0 {
				// Nothing may go out while partition 1 is silent: give
				// it three times what the 1s case needs.
				time.Sleep(3 * time.Second)
				if got := readCommitted(t, addrs, topic+".ordered", 0, 10*time.Second); len(got) != 0 {
					t.Fatalf("%d records went out while partition 1 was silent, with no idle timeout", len(got))
				}
				// Its first record goes out, and it holds the rest back
				// again until its next record comes.
				first := in{part: 1, offset: 0, ts: 500, value: `{"ts":500}`}
				produceMore(t, addrs, topic, first)
				checkOutput(t, topic, readCommitted(t, addrs, topic+".ordered", 1, 30*time.Second), []in{first})
				next := in{part: 1, offset: 1, ts: 2000, value: `{"ts":2000}`}
				produceMore(t, addrs, topic, next)
				want := append([]in{first}, lanes[0]...)
				checkOutput(t, topic, readCommitted(t, addrs, topic+".ordered", len(want), 30*time.Second), want)
				return
			}

			got := readCommitted(t, addrs, topic+".ordered", len(lanes[0]), 30*time.Second)
			took := time.Since(start)
			checkOutput(t, topic, got, lanes[0])
			t.Logf("the stream went on without the silent partition after %v", took)
			if took < tc.idle || took > tc.idle+5*time.Second {
				t.Fatalf("the records went out %v after the start, want a little more than the idle timeout %v", took, tc.idle)
			}
			late := in{part: 1, offset: 0, ts: 500, value: `{"ts":500}`}
			after := in{part: 1, offset: 1, ts: 2000, value: `{"ts":2000}`}
			produceMore(t, addrs, topic, late, after)
			dead := readCommitted(t, addrs, topic+".dlq", 1, 30*time.Second)
			if len(dead) != 1 || dead[0].value != late.value || dead[0].reason != stream.ReasonLate {
				t.Fatalf("dead letters %+v, want %s as late", dead, late.value)
			}
			want := append(append([]in(nil), lanes[0]...), after)
			checkOutput(t, topic, readCommitted(t, addrs, topic+".ordered", len(want), 30*time.Second), want)
		})
	}
}

// produceMore writes records to their partitions of topic.
func produceMore(t *testing.T, addrs []string, topic string, recs ...in) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, r := range recs {
		kr := &kgo.Record{Topic: topic, Partition: r.part, Value: []byte(r.value), Timestamp: time.UnixMilli(r.ts),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
		if err := cl.ProduceSync(testCtx(t), kr).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}
