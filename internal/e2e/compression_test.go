package e2e

import (
	"log/slog"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/producer"
)

// Every --compression codec reaches the broker as that codec, and a topic
// written with it is consumed into exactly its input.
func TestCompressedTopics(t *testing.T) {
	c := cluster(t, "")
	// The codec ids of the Kafka record batch attributes.
	for _, tc := range []struct {
		codec string
		attr  uint8
	}{{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}} {
		t.Run(tc.codec, func(t *testing.T) {
			topic := "compressed-" + tc.codec
			const n = 60
			input := produce(t, c, n, func(cfg *producer.Config) {
				cfg.Topic, cfg.Compression = topic, tc.codec
				cfg.MinLen, cfg.MaxLen, cfg.MaxValue, cfg.ChunkSize = 200, 400, 1e6, 150
			})
			if got := firstCodec(t, c.Addrs(), topic); got != tc.attr {
				t.Fatalf("records stored with codec %d, want %d (%s)", got, tc.attr, tc.codec)
			}
			out, st := consume(t, c, func(cfg *consumer.Config) {
				cfg.Topic, cfg.Group, cfg.Mode = topic, "g-"+tc.codec, consumer.ModeConcurrent
			})
			if st.Batches != n || st.Bad != 0 {
				t.Fatalf("stats %+v", st)
			}
			verifyFile(t, input, out)
		})
	}
}

// firstCodec returns the compression codec of the record batch holding
// topic's first record in partition 0.
func firstCodec(t *testing.T, brokers []string, topic string) uint8 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		fs := cl.PollRecords(ctx(t), 1)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		if rs := fs.Records(); len(rs) > 0 {
			return rs[0].Attrs.CompressionType()
		}
	}
	t.Fatal("no record read from partition 0 in 30s")
	return 0
}

// A topic of the original workload's small records, compressed, holds
// many more of them in the budget's partition share than the consumer
// fetches at once: it fits its fetches to them, and the output is still
// exactly the input. The repartition stage fits its own, larger share.
func TestSmallRecordsFitTheFetches(t *testing.T) {
	c := cluster(t, "")
	const n = 2000 // 20,000 records of 10-20 values in 1..10
	input := produce(t, c, n, func(cfg *producer.Config) { cfg.Compression = "snappy" })
	var consumed, repartitioned lineLog
	debug := func(l *lineLog) *slog.Logger {
		return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	out, st := consume(t, c, func(cfg *consumer.Config) { cfg.Mode, cfg.Log = consumer.ModeConcurrent, debug(&consumed) })
	if st.Batches != n || st.Bad != 0 {
		t.Fatalf("stats %+v", st)
	}
	verifyFile(t, input, out)
	fitted(t, consumed.String(), "the consumer", budget.Split(consumer.DefaultConfig().Memory, 10).PartitionBytes)

	members(t, 1, repartition, func(_ int, cfg *consumer.Config) {
		cfg.Brokers, cfg.Group, cfg.Log = c.Addrs(), "rp", debug(&repartitioned)
	})
	fitted(t, repartitioned.String(), "the repartition stage", budget.SplitForward(consumer.DefaultConfig().Memory, 10).PartitionBytes)
}

// fitted fails the test unless text, a log, says who fitted its partition
// fetches to at least kafka.MinPartitionFetch bytes and less than share.
func fitted(t *testing.T, text, who string, share int32) {
	t.Helper()
	m := regexp.MustCompile(`partition fetch size fitted to the records" topic=\S+ bytes=(\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s did not fit its fetches to the records; it logged:\n%s", who, text)
	}
	if b, _ := strconv.Atoi(m[1]); b >= int(share) || b < kafka.MinPartitionFetch {
		t.Fatalf("%s fitted a partition's fetch to %d bytes, want less than its share (%d) and at least %d", who, b, share, kafka.MinPartitionFetch)
	}
}
