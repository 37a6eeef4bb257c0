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

// The fit is records times the wire bytes a record, within the floor and
// the share; it waits for as many records as it aims at, and moves the
// bound only by more than a quarter.
func TestFetchFit(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.FetchMaxPartitionBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	f := &fetchFit{topic: "t", records: 1000, share: 1 << 20, max: 50 << 20, now: 1 << 20}
	read := func(topic string, records, bytes int) {
		f.OnFetchBatchRead(kgo.BrokerMetadata{}, topic, 0, kgo.FetchBatchMetrics{NumRecords: records, CompressedBytes: bytes, UncompressedBytes: 3 * bytes})
	}
	for _, step := range []struct {
		name           string
		topic          string
		records, bytes int
		want           int32 // the bound after the fit
	}{
		{"too few records seen", "t", 999, 999 * 100, 1 << 20},
		{"another topic's records", "other", 1000, 1000, 1 << 20},
		// 999 and 1 records of 100 bytes: 1000 x 100.
		{"enough seen: fitted", "t", 1, 100, 100_000},
		{"within a quarter: kept", "t", 1000, 1000 * 120, 100_000},
		{"more than a quarter: moved", "t", 1000, 1000 * 130, 130_000},
		{"large records: the share", "t", 1000, 1000 * 10_000, 1 << 20},
		{"tiny records: the floor", "t", 1000, 1000 * 10, MinPartitionFetch},
	} {
		read(step.topic, step.records, step.bytes)
		f.fit(cl)
		if got := partBytes(cl); got != step.want || f.now != step.want {
			t.Fatalf("%s: partition bound %d (noted %d), want %d", step.name, got, f.now, step.want)
		}
	}
	if f := (&fetchFit{records: 1000, share: 32 << 10}); f.want(1) != 32<<10 {
		t.Errorf("a share under the floor: fitted to %d, want the share", f.want(1))
	}
}

// A member given FitRecords fits its partition fetches to small records it
// reads, and keeps a partition bound the cluster's options set.
func TestMemberFitsFetchesToSmallRecords(t *testing.T) {
	c := oneBroker(t, 1, "small", "large")
	feed, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	ctx := context.Background()
	for topic, size := range map[string]int{"small": 100, "large": 200 << 10} {
		var rs []*kgo.Record
		for range min(20_000, (8<<20)/size) {
			rs = append(rs, &kgo.Record{Topic: topic, Value: bytes.Repeat([]byte("x"), size)})
		}
		if err := feed.ProduceSync(ctx, rs...).FirstErr(); err != nil {
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
		{"a bound set by -X", "small", []kgo.Opt{kgo.FetchMaxPartitionBytes(500_000)}, 500_000, 500_000},
	} {
		m, err := Join(GroupConfig{Cluster: Cluster{Brokers: c.ListenAddrs(), Opts: tc.opts}, Group: "g-" + tc.name, Topic: tc.topic,
			FromBeginning: true, SessionTimeout: 10 * time.Second, FetchBytes: 50 << 20, PartitionBytes: 1 << 20, FitRecords: 1000})
		if err != nil {
			t.Fatal(err)
		}
		want := 20_000
		if tc.topic == "large" {
			want = (8 << 20) / (200 << 10)
		}
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
