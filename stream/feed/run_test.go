package feed_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/stream/feed"
)

// A feed with no record count stopped by its context (Ctrl+C) ends
// without an error, and every record it counts is in the topic.
func TestStopIsClean(t *testing.T) {
	c, err := broker.Start(broker.Config{Listen: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := feed.DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Partitions, cfg.Records = c.Addrs(), "ticks", 2, 0
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	st, err := feed.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("a stopped feed: %v", err)
	}
	if st.Records == 0 {
		t.Fatal("the feed wrote nothing in 300ms")
	}
	n := countRecords(t, c.Addrs(), "ticks")
	if n != st.Records {
		t.Fatalf("the topic holds %d records, the feed counted %d", n, st.Records)
	}
}

// countRecords sums topic's end offsets: its records, none transactional.
func countRecords(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}
