package kafka

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partBytes is cl's partition bound now.
func partBytes(cl *kgo.Client) int32 {
	n, _ := cl.OptValue(kgo.FetchMaxPartitionBytes).(int32)
	return n
}

// The fit is records times the wire bytes a record (a batch's header
// shared by its records), and at least twice the largest batch ever seen,
// within the floor and the share; it waits for as many records as it aims
// at, moves the bound only by more than a quarter, and keeps the fetch
// bound.
func TestFetchFit(t *testing.T) {
	type batches struct {
		topic           string
		n, records, per int // n batches of records records of per bytes
	}
	small := batches{"t", 10, 100, 100} // 1000 records of 100.61 bytes
	for _, tc := range []struct {
		name  string
		reads []batches // a fit after each
		want  int32
	}{
		{"too few records seen", []batches{{"t", 9, 100, 100}}, 1 << 20},
		{"another topic's records", []batches{{"other", 10, 100, 100}}, 1 << 20},
		{"small records", []batches{small}, 100_610},
		{"within a quarter: kept", []batches{small, {"t", 10, 100, 120}}, 100_610},
		{"more than a quarter: moved", []batches{small, {"t", 10, 100, 130}}, 130_610},
		{"large records: the share", []batches{{"t", 10, 100, 10_000}}, 1 << 20},
		{"tiny records: the floor", []batches{{"t", 10, 100, 10}}, MinPartitionFetch},
		{"small records in a large batch: twice it", []batches{{"t", 1, 2000, 75}}, 2 * (150_000 + 61)},
		{"a large batch is not forgotten", []batches{{"t", 1, 2000, 75}, small, small}, 2 * (150_000 + 61)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.FetchMaxBytes(50<<20), kgo.FetchMaxPartitionBytes(1<<20))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			f := (&fetchFit{topic: "t", records: 1000, share: 1 << 20}).keep(cl)
			for _, r := range tc.reads {
				for range r.n {
					f.OnFetchBatchRead(kgo.BrokerMetadata{}, r.topic, 0, kgo.FetchBatchMetrics{NumRecords: r.records, CompressedBytes: r.records * r.per})
				}
				f.fit(cl)
			}
			if got := partBytes(cl); got != tc.want || f.now != tc.want {
				t.Errorf("partition bound %d (noted %d), want %d", got, f.now, tc.want)
			}
			if got, _ := cl.OptValue(kgo.FetchMaxBytes).(int32); got != 50<<20 {
				t.Errorf("fetch bound %d, want it kept at %d", got, 50<<20)
			}
		})
	}
	if f := (&fetchFit{records: 1000, share: 32 << 10}); f.want(1, 0) != 32<<10 {
		t.Errorf("a share under the floor: fitted to %d, want the share", f.want(1, 0))
	}
}

// A member given FitRecords fits its partition fetches to small records it
// reads, not to small records in large batches nor to large records; it
// keeps the bounds its options set, and after a restart it fits again and
// keeps its fetch bound.
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
	// given returns the client options -X key=value gives.
	given := func(key, value string) []kgo.Opt {
		var p Props
		if err := p.Set(key, value, "-X"); err != nil {
			t.Fatal(err)
		}
		opts, _, err := p.Options(os.ReadFile)
		if err != nil {
			t.Fatal(err)
		}
		return opts
	}
	for _, tc := range []struct {
		name, topic string
		opts        []kgo.Opt
		restart     bool  // a transactional member, restarted once it has read everything, then reading it all again
		lo, hi      int32 // the bound after reading everything
	}{
		// 1000 records of 100 bytes, and about ten bytes of framing
		// each.
		{"small records", "small", nil, false, 100_000, 115_000},
		{"large records", "large", nil, false, 1 << 20, 1 << 20},
		// Batches of hundreds of KiB (kgo's reach about 290 KiB of the
		// 512 allowed): twice one is far past what 1000 records take.
		{"small records in large batches", "small-in-large-batches", nil, false, 512 << 10, 1 << 20},
		{"a bound of the options", "small", []kgo.Opt{kgo.FetchMaxPartitionBytes(500_000)}, false, 500_000, 500_000},
		{"a bound -X gives, equal to the share", "small", given("max.partition.fetch.bytes", "1048576"), false, 1 << 20, 1 << 20},
		{"a fetch bound -X gives", "small", given("fetch.max.bytes", "52428800"), false, 1 << 20, 1 << 20},
		{"a restarted session", "small", nil, true, 100_000, 115_000},
		{"a restarted session with -X", "small", given("max.partition.fetch.bytes", "1048576"), true, 1 << 20, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := GroupConfig{Cluster: Cluster{Brokers: c.ListenAddrs(), Opts: tc.opts}, Group: "g-" + tc.name, Topic: tc.topic,
				FromBeginning: true, SessionTimeout: 10 * time.Second, FetchBytes: 50 << 20, PartitionBytes: 1 << 20, FitRecords: 1000}
			if tc.restart {
				cfg.TransactionalID, cfg.TransactionTimeout = "txn-"+tc.name, 20*time.Second
			}
			m, err := Join(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			readAll := func() {
				t.Helper()
				pollRecords(t, m, records[tc.topic], 0)
				m.Poll(ctx, time.Millisecond) // the fit follows a poll
				m.AllowRebalance()
			}
			if tc.restart {
				if err := m.Begin(); err != nil {
					t.Fatal(err)
				}
				readAll()
				if err := m.Restart(func() {}); err != nil {
					t.Fatal(err)
				}
			}
			readAll()
			if got := partBytes(m.Client()); got < tc.lo || got > tc.hi {
				t.Errorf("partition bound %d, want %d to %d", got, tc.lo, tc.hi)
			}
			if got, _ := m.Client().OptValue(kgo.FetchMaxBytes).(int32); got != 50<<20 {
				t.Errorf("fetch bound %d, want it kept at %d", got, 50<<20)
			}
		})
	}
}
