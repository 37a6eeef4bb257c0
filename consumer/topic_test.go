package consumer

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
)

// bufferedHook sees every record as the client buffers it.
type bufferedHook struct {
	mu    sync.Mutex
	worst float64 // the largest capacity over length of a value buffered
}

func (h *bufferedHook) OnProduceRecordBuffered(r *kgo.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.worst = max(h.worst, float64(cap(r.Value)-16)/float64(len(r.Value)))
}

// The output topic's records hold what the batches wrote, split at max,
// and a record's value holds little memory beyond its bytes, which is all
// the client's buffer limit counts: small records after large ones do not
// each pin a large buffer. With a max past pooledValue, values are reused
// (valueBuf) while others are still being produced, and every record
// still reads back as written.
func TestTopicSinkRecords(t *testing.T) {
	for _, tc := range []struct {
		name               string
		max                int
		batches, per, step int64 // batch b has b*per values (per if fixed), step apart
		fixed              bool
	}{
		{"small records", 4096, 100, 37, 1000003, false},
		{"reused values", 1 << 20, 40, 10000, 1000000007, true},
	} {
		t.Run(tc.name, func(t *testing.T) { topicSinkRecords(t, tc.max, tc.batches, tc.per, tc.step, tc.fixed) })
	}
}

func topicSinkRecords(t *testing.T, max int, batches, per, step int64, fixed bool) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hook := new(bufferedHook)
	cl, err := kafka.Cluster{Brokers: c.ListenAddrs()}.Client(kgo.WithHooks(hook), kgo.DefaultProduceTopic("out"),
		kgo.ProducerBatchMaxBytes(int32(4*max)), kgo.MaxBufferedRecords(8))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ts := &topicSink{p: kafka.NewProducer(cl), topic: "out", max: max}
	var want []string
	for b := range batches {
		ts.Begin(b)
		n := b * per
		if fixed {
			n = per
		}
		var vals []int64
		for v := range n {
			vals = append(vals, b+v*step)
		}
		for i := 0; i < len(vals); i += 100 {
			ts.Write(vals[i:min(i+100, len(vals))])
		}
		ts.End()
		strs := make([]string, len(vals))
		for i, v := range vals {
			strs[i] = strconv.FormatInt(v, 10)
		}
		want = append(want, strings.Join(strs, ","))
	}
	if err := ts.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if hook.worst > 4.0/3 {
		t.Fatalf("a value's buffer held %.2f times its bytes", hook.worst)
	}
	rd, err := kafka.Cluster{Brokers: c.ListenAddrs()}.Client(kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := make([]string, len(want))
	n := 0
	for n < len(want) && ctx.Err() == nil {
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if len(v) > max+blockSlack {
				t.Errorf("record of %d bytes, over max and slack", len(v))
			}
			b, err := strconv.Atoi(string(r.Key))
			if err != nil || b < 0 || b >= len(want) {
				t.Fatalf("key %q", r.Key)
			}
			i, j := strings.Index(v, `"data":[`), strings.LastIndex(v, "]}")
			part := v[i+len(`"data":[`) : j]
			if got[b] != "" && part != "" {
				got[b] += ","
			}
			got[b] += part
			if !strings.Contains(v, `"chunk"`) || strings.Contains(v, `"last":true`) {
				n++
			}
		})
	}
	for b := range want {
		if got[b] != want[b] {
			t.Fatalf("batch %d: read %.60q..., wrote %.60q...", b, got[b], want[b])
		}
	}
}
