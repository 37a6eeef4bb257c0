package producer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// A paced run never runs ahead of its rate: batch i's last record is
// stamped no sooner than i/Rate after batch 0's, and Produced sees every
// batch once, in order. (Only the lower bound is checked: a busy machine
// may run behind, which the clock then makes up.)
func TestRateNeverRunsAhead(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Partitions = c.ListenAddrs(), "paced", 3
	cfg.Batches, cfg.Rate = 100, 500 // 0.2s
	var ids []int64
	var stamps []time.Time
	cfg.Produced = func(b int64, at time.Time) {
		ids = append(ids, b)
		stamps = append(stamps, at)
	}
	// The pacing clock starts after this, as the run begins its first
	// batch. Batch 0's own stamp is no reference: it is its last
	// record's, taken once the batch was generated and handed over,
	// which on a loaded machine is a few milliseconds after the clock
	// started, while batch i may be due just i/Rate after that start.
	before := time.Now()
	st, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(ids)) != cfg.Batches || st.Batches != cfg.Batches {
		t.Fatalf("Produced saw %d batches, the run wrote %d, want %d", len(ids), st.Batches, cfg.Batches)
	}
	for i, id := range ids {
		if id != st.FirstBatch+int64(i) {
			t.Fatalf("Produced call %d: batch %d, want %d", i, id, st.FirstBatch+int64(i))
		}
		// The client stamps to the millisecond, so a stamp may read up
		// to 1ms early.
		due := time.Duration(float64(i)/cfg.Rate*float64(time.Second)) - time.Millisecond
		if got := stamps[i].Sub(before); got < due {
			t.Fatalf("batch %d stamped %v after the run began: ahead of %v batches/s (due at %v at the earliest)", i, got, cfg.Rate, due)
		}
	}
}

func TestRateValidation(t *testing.T) {
	for _, tc := range []struct {
		rate     float64
		interval time.Duration
		ok       bool
	}{
		{0, 0, true}, {1000, 0, true}, {0.5, 0, true},
		{-1, 0, false}, {1e8, 0, false}, {10, time.Second, false},
	} {
		cfg := DefaultConfig()
		cfg.Rate, cfg.Interval = tc.rate, tc.interval
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("Rate %v, Interval %v: Validate() = %v, want ok %v", tc.rate, tc.interval, err, tc.ok)
		}
	}
}
