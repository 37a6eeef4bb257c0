package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/verify"
)

// The output topic holds every batch, keyed by id; batches larger than a
// record are split into chunk records that verify joins back.
func TestOutputTopicWithChunkedBatches(t *testing.T) {
	c := cluster(t, "")
	input := produce(t, c, 150, func(cfg *producer.Config) { cfg.MinLen, cfg.MaxLen, cfg.MaxValue = 0, 200, 1e6 })
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			topic := "merged-" + mode
			_, st := consume(t, c, func(cfg *consumer.Config) {
				cfg.Mode, cfg.Group, cfg.OutputTopic, cfg.Sink, cfg.MaxRecordBytes = mode, "out-"+mode, topic, nil, 1024
			})
			if st.Batches != 150 {
				t.Fatalf("wrote %d batches", st.Batches)
			}
			rep, err := verify.Run(ctx(t), verify.Config{InputLog: input, Brokers: c.Addrs(), Topic: topic})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Batches != 150 {
				t.Fatalf("%s %v", rep.Summary(), rep.Problems)
			}
			// Some batches must really have been chunked, keyed by id.
			rd, err := kafka.Cluster{Brokers: c.Addrs()}.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			chunks, records := 0, 0
			for records < 150 {
				pctx, cancel := context.WithTimeout(ctx(t), 2*time.Second)
				fs := rd.PollFetches(pctx)
				cancel()
				if fs.NumRecords() == 0 {
					break
				}
				fs.EachRecord(func(r *kgo.Record) {
					records++
					if bytes.Contains(r.Value, []byte(`"chunk":`)) {
						chunks++
					}
					if !bytes.HasPrefix(r.Value, append(append([]byte(`{"batch_id":`), r.Key...), ',')) {
						t.Fatalf("record key %q does not match value %.40s", r.Key, r.Value)
					}
				})
			}
			if chunks == 0 {
				t.Fatalf("no chunked records among %d: the test did not test chunking", records)
			}
		})
	}
}

// A record the broker refuses for good fails the producer: it reports the
// failure and returns an error instead of exiting as if all went well.
func TestProducerReportsDeliveryFailure(t *testing.T) {
	c := cluster(t, "")
	produce(t, c, 1, nil) // create the topic
	h := c.Kfake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: -1})
	defer h.Remove()
	cfg := producer.DefaultConfig()
	cfg.Brokers, cfg.Batches = c.Addrs(), 3
	_, err := producer.Run(ctx(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "deliver record") {
		t.Fatalf("err %v, want a delivery failure", err)
	}
}
