package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A group member's fetch bounds (the memory budget's shares) and a
// transactional member's linger are defaults: -X fetch.max.bytes,
// max.partition.fetch.bytes, fetch.wait.max.ms and linger.ms override
// them, as their help says, and without them the defaults hold.
func TestMemberDefaultsYieldToProperties(t *testing.T) {
	c := oneBroker(t, 1, "t")
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
			opts, err := options(tc.props)
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

// oneBroker starts a cluster of one broker with topics of partitions
// partitions each, closed at the test's end.
func oneBroker(t *testing.T, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// pollUntil polls each of ms in turn, letting each rebalance through,
// until done says so of the records polled so far, failing the test
// (what did not happen) after 10s.
func pollUntil(t *testing.T, what string, done func(polled int) bool, ms ...*Member) {
	t.Helper()
	polled := 0
	for start := time.Now(); !done(polled); {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: not within 10s (%d records polled)", what, polled)
		}
		for _, m := range ms {
			fs, _, err := m.Poll(context.Background(), 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			polled += fs.NumRecords()
			m.AllowRebalance()
		}
	}
}

// pollRecords polls m until it has polled want records and for at least
// linger.
func pollRecords(t *testing.T, m *Member, want int, linger time.Duration) {
	t.Helper()
	start := time.Now()
	pollUntil(t, fmt.Sprintf("%d records polled", want), func(n int) bool { return n >= want && time.Since(start) >= linger }, m)
}

// sessionEnds counts, from the lines kgo's GroupTransactSession logs, the
// ends of a member's session and the revokes of nothing it let pass.
type sessionEnds struct{ n, emptyRevokes atomic.Int64 }

func (*sessionEnds) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (s *sessionEnds) Log(_ kgo.LogLevel, msg string, _ ...any) {
	switch msg {
	case "transaction session ending":
		s.n.Add(1)
	case "transact session in on_revoke with nothing to revoke; allowing next commit":
		s.emptyRevokes.Add(1)
	}
}

// A transaction that holds nothing is ended without kgo's session, whose
// End holds an end without offsets 500 ms; one that holds a record, an
// offset, or follows a revoke goes through the session, which commits the
// offsets and clears its mark of the revoke. A revoke of nothing, which a
// cooperative rebalance gives every member at each session's end, does
// not mark the session, so a member that joins ends empty transactions
// without it.
func TestEmptyTransactionsSkipTheSession(t *testing.T) {
	c := oneBroker(t, 2, "t", "out")
	ends := new(sessionEnds)
	join := func(log kgo.Logger) *Member {
		cluster := Cluster{Brokers: c.ListenAddrs()}
		if log != nil {
			cluster.Opts = []kgo.Opt{kgo.WithLogger(log)}
		}
		m, err := Join(GroupConfig{Cluster: cluster, Group: "g", Topic: "t", FromBeginning: true,
			SessionTimeout: 10 * time.Second, FetchBytes: 1 << 20, PartitionBytes: 1 << 16,
			TransactionalID: fmt.Sprintf("txn-%p", cluster.Opts), TransactionTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Begin(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := join(ends)
	defer m.Close()
	ctx := context.Background()
	poll := func(m *Member, want int) { t.Helper(); pollRecords(t, m, want, 200*time.Millisecond) }
	endOf := func(m *Member, ends *sessionEnds, step string, viaSession bool) {
		t.Helper()
		before := ends.n.Load()
		committed, err := m.End(ctx, nil, true)
		if err != nil || !committed && !viaSession {
			t.Fatalf("%s: committed %v, err %v", step, committed, err)
		}
		if got := ends.n.Load() - before; got != map[bool]int64{false: 0, true: 1}[viaSession] {
			t.Errorf("%s: the session ended %d times", step, got)
		}
	}
	end := func(step string, viaSession bool) { t.Helper(); endOf(m, ends, step, viaSession) }

	poll(m, 0)
	end("nothing read or written", false)
	end("again nothing", false)

	m.Producer().Produce(&kgo.Record{Topic: "out", Value: []byte("x")})
	end("a record written", true)
	end("nothing since", false)

	feed, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if err := feed.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b"), Partition: 1}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	poll(m, 2)
	end("records read", true)
	offs, err := kadm.NewClient(feed).FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("t", 0); o.At != 1 {
		t.Errorf("partition 0 committed at %d, want 1", o.At)
	}

	// A second member takes a partition: the first's revoke marks its
	// session, so its next end, empty or not, goes through the session;
	// that end clears the mark, and the one after is empty again. The
	// group is let settle first (cooperative rebalances take two rounds,
	// each a revoke): no callback comes between those two ends. The
	// second member's revokes took nothing: its ends skip the session.
	ends2 := new(sessionEnds)
	m2 := join(ends2)
	defer m2.Close()
	adm := kadm.NewClient(feed)
	for start := time.Now(); ; {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the group did not settle on two members 10s after the second joined")
		}
		poll(m, 0)
		poll(m2, 0)
		if settled(ctx, adm, "g") && m.moved.Load() {
			break
		}
	}
	end("after a revoke", true)
	end("nothing since the revoke's end", false)
	if ends2.emptyRevokes.Load() == 0 {
		t.Fatal("the second member's session saw no revoke of nothing")
	}
	endOf(m2, ends2, "the joiner, after revokes of nothing", false)
}

// settled reports whether group is stable with two members holding a
// partition each.
func settled(ctx context.Context, adm *kadm.Client, group string) bool {
	gs, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return false
	}
	g := gs[group]
	if g.State != "Stable" || len(g.Members) != 2 {
		return false
	}
	for _, mem := range g.Members {
		if a, ok := mem.Assigned.AsConsumer(); !ok || len(a.Topics) != 1 || len(a.Topics[0].Partitions) != 1 {
			return false
		}
	}
	return true
}

// A transactional member counts its group cooperative only when every
// balancer it may join with is: kgo's default is, a range balancer is
// not, and a mix may be given either.
func TestCooperativeOnlyWithCooperativeBalancers(t *testing.T) {
	c := oneBroker(t, 1, "t")
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
		want bool
	}{
		{"default", nil, true},
		{"cooperative sticky", []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}, true},
		{"range", []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}, false},
		{"sticky and cooperative sticky", []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer(), kgo.StickyBalancer())}, false},
	} {
		m, err := Join(GroupConfig{Cluster: Cluster{Brokers: c.ListenAddrs(), Opts: tc.opts}, Group: "g-" + tc.name, Topic: "t",
			SessionTimeout: 10 * time.Second, TransactionalID: "txn-" + tc.name, TransactionTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if got := cooperative(m.Client()); got != tc.want {
			t.Errorf("%s: cooperative %v, want %v", tc.name, got, tc.want)
		}
		m.Close()
	}
}

// In an eager group every session's end revokes all a member has: nothing,
// for a member the last session gave nothing. kgo's session marks itself
// on that revoke of nothing and then passes on no revoke until its next
// end, so the member notes it and ends its next transaction, empty or
// not, through the session: else a later revoke of real partitions would
// never reach Revoked.
func TestEagerMemberHearsEveryRevoke(t *testing.T) {
	c := oneBroker(t, 1, "t")
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var (
		mu       sync.Mutex
		assigned []int32
		revoked  []int32
	)
	record := func(to *[]int32) func(context.Context, []int32) {
		return func(_ context.Context, parts []int32) {
			mu.Lock()
			defer mu.Unlock()
			*to = append(*to, parts...)
		}
	}
	got := func(of *[]int32) []int32 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(*of)
	}
	join := func(name string, cfg GroupConfig) *Member {
		// Range gives a partition to the lowest member id, which
		// begins with the client id.
		cfg.Cluster = Cluster{Brokers: c.ListenAddrs(), Opts: []kgo.Opt{kgo.Balancers(kgo.RangeBalancer()), kgo.ClientID(name)}}
		cfg.Group, cfg.Topic, cfg.FromBeginning, cfg.SessionTimeout = "eager", "t", true, 10*time.Second
		cfg.TransactionalID, cfg.TransactionTimeout = "txn-"+name, 20*time.Second
		m, err := Join(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		if err := m.Begin(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	until := func(what string, done func() bool, ms ...*Member) {
		t.Helper()
		pollUntil(t, what, func(int) bool { return done() }, ms...)
	}
	stable := func(members int) func() bool {
		return func() bool {
			gs, err := adm.DescribeGroups(ctx, "eager")
			return err == nil && gs["eager"].State == "Stable" && len(gs["eager"].Members) == members
		}
	}

	first := join("a-first", GroupConfig{})
	until("the first member's join", stable(1), first)
	m := join("b-second", GroupConfig{Assigned: record(&assigned), Revoked: record(&revoked)})
	until("the second member's join", stable(2), first, m)
	if a := got(&assigned); len(a) != 0 {
		t.Fatalf("range gave the second member %v of one partition, want nothing", a)
	}
	first.Close()
	until("the second member's taking the partition", func() bool { return len(got(&assigned)) == 1 }, m)
	if !m.moved.Load() {
		t.Fatal("the member did not note the revoke of nothing that ended its session")
	}
	if _, err := m.End(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	third := join("c-third", GroupConfig{})
	until("the third member's join", stable(2), m, third)
	if r := got(&revoked); !slices.Equal(r, []int32{0}) {
		t.Fatalf("the member heard %v revoked when the third joined, want [0]", r)
	}
}

// A loss (here, a heartbeat the group answers as from a member it does
// not know) goes to Lost; a transactional member without Lost hears it
// in Revoked, as kgo's session would tell it, and notes it; a plain
// member without Lost hears nothing of it, for Revoked may commit.
func TestLossWithoutLost(t *testing.T) {
	for _, tc := range []struct {
		name              string
		txn, withLost     bool
		wantLost, wantRev int64 // partitions heard
	}{
		{"transactional, Lost", true, true, 1, 0},
		{"transactional, no Lost", true, false, 0, 1},
		{"plain, no Lost", false, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := oneBroker(t, 1, "t")
			var assigned, lost, revoked atomic.Int64
			cfg := GroupConfig{Cluster: Cluster{Brokers: c.ListenAddrs()}, Group: "g", Topic: "t", SessionTimeout: 10 * time.Second,
				Assigned: func(context.Context, []int32) { assigned.Add(1) },
				Revoked:  func(_ context.Context, parts []int32) { revoked.Add(int64(len(parts))) }}
			if tc.withLost {
				cfg.Lost = func(_ context.Context, parts []int32) { lost.Add(int64(len(parts))) }
			}
			if tc.txn {
				cfg.TransactionalID, cfg.TransactionTimeout = "txn", 20*time.Second
			}
			m, err := Join(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if tc.txn {
				if err := m.Begin(); err != nil {
					t.Fatal(err)
				}
			}
			pollUntil(t, "the first assignment", func(int) bool { return assigned.Load() == 1 }, m)
			c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
				resp := req.(*kmsg.HeartbeatRequest).ResponseKind().(*kmsg.HeartbeatResponse)
				resp.ErrorCode = kerr.UnknownMemberID.Code
				return resp, nil, true
			})
			pollUntil(t, "the assignment after the loss", func(int) bool { return assigned.Load() == 2 }, m)
			if got := lost.Load(); got != tc.wantLost {
				t.Errorf("Lost heard %d partitions, want %d", got, tc.wantLost)
			}
			if got := revoked.Load(); got != tc.wantRev {
				t.Errorf("Revoked heard %d partitions, want %d", got, tc.wantRev)
			}
			if tc.txn && !m.moved.Load() {
				t.Error("the loss was not noted")
			}
		})
	}
}
