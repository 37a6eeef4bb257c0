package kafka

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A group member's fetch bounds (the memory budget's shares) and a
// transactional member's linger are defaults: -X fetch.max.bytes,
// max.partition.fetch.bytes, fetch.wait.max.ms and linger.ms override
// them, as their help says, and without them the defaults hold.
func TestMemberDefaultsYieldToProperties(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name  string
		props map[string]string
		txn   bool
		want  map[string]any // option name: value
	}{
		{"defaults", nil, false, map[string]any{"fetch": int32(1 << 20), "partition": int32(1 << 16), "wait": FetchMaxWait}},
		{"properties", map[string]string{"fetch.max.bytes": "3000000", "max.partition.fetch.bytes": "2000000", "fetch.wait.max.ms": "70"},
			false, map[string]any{"fetch": int32(3000000), "partition": int32(2000000), "wait": 70 * time.Millisecond}},
		{"a fetch bound above kgo's read bound", map[string]string{"fetch.max.bytes": "300000000"}, false,
			map[string]any{"fetch": int32(300000000)}},
		{"transactional defaults", nil, true, map[string]any{"fetch": int32(1 << 20), "linger": 5 * time.Millisecond}},
		{"transactional linger.ms", map[string]string{"linger.ms": "0", "fetch.max.bytes": "3000000"}, true,
			map[string]any{"fetch": int32(3000000), "linger": time.Duration(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Props
			for k, v := range tc.props {
				if err := p.Set(k, v, "-X"); err != nil {
					t.Fatal(err)
				}
			}
			opts, _, err := p.Options(nil)
			if err != nil {
				t.Fatal(err)
			}
			gc := GroupConfig{Cluster: Cluster{Brokers: c.ListenAddrs(), Opts: opts}, Group: "g", Topic: "t",
				SessionTimeout: 10 * time.Second, FetchBytes: 1 << 20, PartitionBytes: 1 << 16}
			if tc.txn {
				gc.TransactionalID, gc.TransactionTimeout = "txn", 20*time.Second
			}
			m, err := Join(gc)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Client().Close()
			opt := map[string]any{"fetch": kgo.FetchMaxBytes, "partition": kgo.FetchMaxPartitionBytes, "wait": kgo.FetchMaxWait, "linger": kgo.ProducerLinger}
			for name, want := range tc.want {
				if got := m.Client().OptValue(opt[name]); got != want {
					t.Errorf("%s: %v, want %v", name, got, want)
				}
			}
		})
	}
}

// Defaults go before the cluster's options (the user's), and a client's
// extra options after both: the producer and the feed take their linger
// this way.
func TestClusterDefaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		user  []kgo.Opt
		extra []kgo.Opt
		want  time.Duration
	}{
		{"default", nil, nil, 5 * time.Millisecond},
		{"the user's", []kgo.Opt{kgo.ProducerLinger(0)}, nil, 0},
		{"extra", []kgo.Opt{kgo.ProducerLinger(0)}, []kgo.Opt{kgo.ProducerLinger(9 * time.Millisecond)}, 9 * time.Millisecond},
	} {
		// Spare room after the user's options: Defaults must not
		// write into it (it would change another Cluster sharing it).
		user := append(make([]kgo.Opt, 0, len(tc.user)+4), tc.user...)
		c := Cluster{Brokers: []string{"127.0.0.1:1"}, Opts: user}
		cl, err := c.Defaults(kgo.ProducerLinger(5 * time.Millisecond)).Client(tc.extra...)
		if err != nil {
			t.Fatal(err)
		}
		if got := cl.OptValue(kgo.ProducerLinger); got != tc.want {
			t.Errorf("%s: linger %v, want %v", tc.name, got, tc.want)
		}
		cl.Close()
		for i, o := range user[:cap(user)] {
			if i >= len(tc.user) && o != nil {
				t.Errorf("%s: Defaults wrote into the options it was given", tc.name)
			}
		}
	}
}

// A member says the brokers are out of reach once none has answered for
// longer than the wait while its dials fail, idle as it is: not before
// (it heartbeats and fetches while they are up), and not merely for a
// quiet while.
func TestUnansweredWhenTheBrokersGo(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Join(GroupConfig{Cluster: Cluster{Brokers: c.ListenAddrs()}, Group: "g", Topic: "t",
		SessionTimeout: 10 * time.Second, FetchBytes: 1 << 20, PartitionBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	// Leaving the group with the broker gone waits on kgo's retries:
	// bounded, as the consumer bounds it.
	defer CloseWithin(time.Second, slog.New(slog.DiscardHandler), m.Close)
	const wait = 300 * time.Millisecond
	for start := time.Now(); time.Since(start) < 2*time.Second; {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		m.Client().PollFetches(ctx) // the client fetches and heartbeats meanwhile
		cancel()
		if why := m.Unanswered(wait); why != "" {
			t.Fatalf("with the broker up: %q", why)
		}
	}
	c.Close()
	var why string
	for start := time.Now(); why == "" && time.Since(start) < 10*time.Second; {
		time.Sleep(100 * time.Millisecond)
		why = m.Unanswered(wait)
	}
	if why == "" {
		t.Fatal("10s after the broker closed, the member still says nothing")
	}
	t.Logf("after the broker closed: %s", why)
}
