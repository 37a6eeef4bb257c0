package kafka

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partBytes is cl's partition bound now.
func partBytes(cl *kgo.Client) int32 {
	n, _ := cl.OptValue(kgo.FetchMaxPartitionBytes).(int32)
	return n
}

// The fit is records times the wire bytes a record, and at least twice the
// largest batch, within the floor and the share; it waits for as many
// records as it aims at, and moves the bound only by more than a quarter.
func TestFetchFit(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.FetchMaxPartitionBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	f := &fetchFit{topic: "t", records: 1000, share: 1 << 20, max: 50 << 20, now: 1 << 20}
	for _, step := range []struct {
		name           string
		topic          string
		records, bytes int // in batches of 100 records
		want           int32
	}{
		{"too few records seen", "t", 900, 900 * 100, 1 << 20},
		{"another topic's records", "other", 1000, 1000, 1 << 20},
		// 900 and 100 records of 100 bytes: 1000 x 100.
		{"enough seen: fitted", "t", 100, 100 * 100, 100_000},
		{"within a quarter: kept", "t", 1000, 1000 * 120, 100_000},
		{"more than a quarter: moved", "t", 1000, 1000 * 130, 130_000},
		{"large records: the share", "t", 1000, 1000 * 10_000, 1 << 20},
		{"tiny records: the floor", "t", 1000, 1000 * 10, MinPartitionFetch},
	} {
		for i := 0; i < step.records; i += 100 {
			f.OnFetchBatchRead(kgo.BrokerMetadata{}, step.topic, 0, kgo.FetchBatchMetrics{NumRecords: 100, CompressedBytes: step.bytes / step.records * 100})
		}
		f.fit(cl)
		if got := partBytes(cl); got != step.want || f.now != step.want {
			t.Fatalf("%s: partition bound %d (noted %d), want %d", step.name, got, f.now, step.want)
		}
	}
	// Small records in one large batch: twice the batch, not what the
	// records alone would take.
	f.OnFetchBatchRead(kgo.BrokerMetadata{}, "t", 0, kgo.FetchBatchMetrics{NumRecords: 2000, CompressedBytes: 150_000})
	if f.fit(cl); partBytes(cl) != 300_000 {
		t.Fatalf("small records in a batch of 150,000 bytes: partition bound %d, want 300000", partBytes(cl))
	}
	if f := (&fetchFit{records: 1000, share: 32 << 10}); f.want(1, 0) != 32<<10 {
		t.Errorf("a share under the floor: fitted to %d, want the share", f.want(1, 0))
	}
}

// A member given FitRecords fits its partition fetches to small records it
// reads, and keeps a partition bound the cluster's options set.
func TestMemberFitsFetchesToSmallRecords(t *testing.T) {
	c := oneBroker(t, 1, "small", "large", "small-in-large-batches")
	ctx := context.Background()
	records := map[string]int{} // in each topic
	for _, in := range []struct {
		topic      string
		size       int // of a record
		batchBytes int32
	}{{"small", 100, 16 << 10}, {"large", 200 << 10, 1 << 20}, {"small-in-large-batches", 100, 512 << 10}} {
		feed, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ProducerBatchMaxBytes(in.batchBytes))
		if err != nil {
			t.Fatal(err)
		}
		var rs []*kgo.Record
		records[in.topic] = min(20_000, (8<<20)/in.size)
		for range records[in.topic] {
			rs = append(rs, &kgo.Record{Topic: in.topic, Value: bytes.Repeat([]byte("x"), in.size)})
		}
		err = feed.ProduceSync(ctx, rs...).FirstErr()
		feed.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, topic string
		opts        []kgo.Opt
		lo, hi      int32 // the bound after reading everything
	}{
		// 1000 records of 100 bytes, and about ten bytes of framing
		// each.
		{"small records", "small", nil, 100_000, 115_000},
		{"large records", "large", nil, 1 << 20, 1 << 20},
		// Batches of hundreds of KiB (kgo's reach about 290 KiB of the
		// 512 allowed): twice one is far past what 1000 records take.
		{"small records in large batches", "small-in-large-batches", nil, 512 << 10, 1 << 20},
		{"a bound set by -X", "small", []kgo.Opt{kgo.FetchMaxPartitionBytes(500_000)}, 500_000, 500_000},
	} {
		m, err := Join(GroupConfig{Cluster: Cluster{Brokers: c.ListenAddrs(), Opts: tc.opts}, Group: "g-" + tc.name, Topic: tc.topic,
			FromBeginning: true, SessionTimeout: 10 * time.Second, FetchBytes: 50 << 20, PartitionBytes: 1 << 20, FitRecords: 1000})
		if err != nil {
			t.Fatal(err)
		}
		want := records[tc.topic]
		for got, start := 0, time.Now(); got < want; {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s: read %d records of %d", tc.name, got, want)
			}
			fs, _, err := m.Poll(ctx, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			got += fs.NumRecords()
			m.AllowRebalance()
		}
		m.Poll(ctx, time.Millisecond) // the fit follows a poll
		m.AllowRebalance()
		if got := partBytes(m.Client()); got < tc.lo || got > tc.hi {
			t.Errorf("%s: partition bound %d, want %d to %d", tc.name, got, tc.lo, tc.hi)
		}
		m.Close()
	}
}
