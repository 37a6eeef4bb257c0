package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/segmerge/segmerge/internal/setting"
)

// GroupConfig sets up a Member.
type GroupConfig struct {
	Cluster Cluster
	Group   string
	Topic   string
	// TopicID is Topic's id when the run began (see TopicID); if a fetch
	// finds the topic gone or with another id, the run ends.
	TopicID string
	// FromBeginning starts a partition the group has no commit for at the
	// start of the log, not its end.
	FromBeginning bool
	// SessionTimeout is how long the group waits for a silent member.
	SessionTimeout time.Duration
	// FetchBytes and PartitionBytes bound fetches (FetchOptions), unless
	// the cluster's options (-X) set other bounds.
	FetchBytes, PartitionBytes int32
	// FitRecords, if set, cuts a partition's fetch to about that many
	// records once their wire size is seen, when PartitionBytes would
	// take more (see fetchFit); not when FetchBoundsGiven is among the
	// cluster's hooks (-X, -F and SEGMERGE_X_ settings of either fetch
	// bound add it), or their partition bound differs from
	// PartitionBytes.
	FitRecords int
	// TransactionalID, if set, makes the member a GroupTransactSession
	// that produces in transactions of at most TransactionTimeout, with
	// at most ProduceBuffer bytes buffered (0: kgo's default).
	TransactionalID    string
	TransactionTimeout time.Duration
	ProduceBuffer      int
	// Limits, if set, bound the record batches the member's client
	// writes by each topic's limit (see Limits).
	Limits *Limits
	// KeyedTopics are the topics the member writes by batch id
	// (BatchPartitioner).
	KeyedTopics []string
	// Partitioner, if set, places the records the member writes instead
	// of BatchPartitioner(KeyedTopics...).
	Partitioner kgo.Partitioner
	// Assigned, Revoked and Lost, if set, are told of partitions of Topic
	// assigned, revoked with a chance to commit, or lost without one.
	Assigned, Revoked, Lost func(ctx context.Context, parts []int32)
	// Stalled, if set, is told, at every try, why the member waits for
	// the brokers instead of reading, and "" once they answer: a
	// readiness check says it, and a liveness check sees the wait is
	// alive.
	Stalled func(why string)
	Log     *slog.Logger
}

// Member is one group member reading Topic (see the package doc). Its
// methods are for one goroutine, its loop's, except the callbacks it runs.
type Member struct {
	cfg  GroupConfig
	cl   *kgo.Client
	sess *kgo.GroupTransactSession // transactional only
	prod *Producer                 // transactional only: writes through cl

	failures int       // ends in a row that did not commit
	checked  time.Time // the topic's id last checked (see recreated)

	// What tells a broker restart's fence from a newer instance's (see
	// Restartable).
	trouble     atomic.Int64 // failed dials and requests cut off, ever
	troubleSeen int64        // trouble at the last commit
	answered    atomic.Int64 // when a request was last answered (unix ns); the start at first
	failed      atomic.Int64 // when a dial or request last failed (unix ns); 0 never
	restarts    int          // sessions restarted since the last commit

	// What tells an empty transaction (see empty).
	begun int64       // the producer's Handed at Begin
	moved atomic.Bool // a revoke or loss since the session last ended

	fit *fetchFit // nil unless FitRecords applies
}

// Join creates the member's client; it joins the group in the background.
func Join(cfg GroupConfig) (*Member, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m := &Member{cfg: cfg}
	m.answered.Store(time.Now().UnixNano())
	if err := m.open(); err != nil {
		return nil, err
	}
	if m.sess != nil {
		m.prod = NewProducer(m.cl)
	}
	return m, nil
}

func (m *Member) open() error {
	cfg := &m.cfg
	reset := kgo.NewOffset().AtEnd()
	if cfg.FromBeginning {
		reset = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(reset),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// A transactional input (<topic>.by-batch) is read as committed,
		// with its markers, whose offsets the position must pass.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(HeartbeatInterval(cfg.SessionTimeout)),
		// How long a rebalance waits for every member to join again
		// before it goes on without the missing (a process that died
		// while joining): kgo's default is a minute.
		kgo.RebalanceTimeout(RebalanceTimeout(cfg.SessionTimeout)),
		kgo.WithHooks(troubleHook{n: &m.trouble, answered: &m.answered, failed: &m.failed}),
	}
	opts = append(opts, m.callbacks()...)
	fit := newFetchFit(cfg)
	if fit != nil {
		opts = append(opts, kgo.WithHooks(fit))
	}
	// The budget's fetch shares are defaults: -X fetch.max.bytes and
	// friends override them, as their help says.
	cluster := cfg.Cluster.Defaults(FetchOptions(cfg.FetchBytes, cfg.PartitionBytes)...)
	if cfg.TransactionalID == "" {
		cl, err := cluster.Client(opts...)
		if err != nil {
			return err
		}
		m.cl, m.fit = cl, fit.keep(cl)
		return nil
	}
	cluster = cluster.Defaults(kgo.ProducerLinger(Linger))
	part := cfg.Partitioner
	if part == nil {
		part = BatchPartitioner(cfg.KeyedTopics...)
	}
	opts = append(opts,
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.RecordPartitioner(part),
	)
	if cfg.ProduceBuffer > 0 {
		opts = append(opts, kgo.MaxBufferedBytes(cfg.ProduceBuffer))
	}
	if cfg.Limits != nil {
		opts = append(opts, cfg.Limits.Opt())
	}
	s, err := kgo.NewGroupTransactSession(cluster.Options(opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	m.sess, m.cl = s, s.Client()
	m.fit = fit.keep(m.cl)
	return nil
}

// callbacks are the options that hand the group's assignments, revokes and
// losses to cfg's callbacks.
func (m *Member) callbacks() []kgo.Opt {
	cfg := &m.cfg
	var opts []kgo.Opt
	on := func(f func(context.Context, []int32)) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(ctx context.Context, _ *kgo.Client, parts map[string][]int32) { f(ctx, parts[cfg.Topic]) }
	}
	if cfg.Assigned != nil {
		opts = append(opts, kgo.OnPartitionsAssigned(on(cfg.Assigned)))
	}
	// A revoke or a loss is noted before the caller hears of it, when
	// kgo's session marks its transaction failed (see empty): on every
	// loss, and on a revoke unless it takes nothing in a cooperative
	// group. A cooperative rebalance (kgo's default balancer) calls the
	// revoke callback with nothing at every session's end; the session
	// lets that pass, and so does the note, or a member that joins, or
	// keeps what it had, would end its next empty transaction through the
	// session and wait 500 ms there. Unless the client's balancers are
	// all cooperative, every revoke is noted: an eager session marks
	// itself failed on a revoke of nothing too, and then ignores revokes
	// until its next end, so a missed note there could report offsets
	// committed that were never sent. In a transactional
	// member a loss goes to Revoked when there is no Lost, as kgo's
	// session does; a plain client's loss goes nowhere then, as kgo's own
	// does, for Revoked may commit.
	lost := cfg.Lost
	if lost == nil && cfg.TransactionalID != "" {
		lost = cfg.Revoked
	}
	noted := func(f func(context.Context, []int32), evenEmpty bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
			if evenEmpty || len(parts) > 0 || !cooperative(cl) {
				m.moved.Store(true)
			}
			if f != nil {
				f(ctx, parts[cfg.Topic])
			}
		}
	}
	return append(opts, kgo.OnPartitionsRevoked(noted(cfg.Revoked, false)), kgo.OnPartitionsLost(noted(lost, true)))
}

// cooperative reports whether every balancer cl may join its group with is
// cooperative: then the group is, whichever the leader picks.
func cooperative(cl *kgo.Client) bool {
	bs, ok := cl.OptValue(kgo.Balancers).([]kgo.GroupBalancer)
	if !ok || len(bs) == 0 {
		return false
	}
	for _, b := range bs {
		if !b.IsCooperative() {
			return false
		}
	}
	return true
}

// Client is the member's client.
func (m *Member) Client() *kgo.Client { return m.cl }

// Producer writes in the member's transactions; nil unless transactional.
func (m *Member) Producer() *Producer { return m.prod }

// Transactional reports whether the member writes in transactions.
func (m *Member) Transactional() bool { return m.sess != nil }

// TransactionalID is the member's transactional id, "" if none.
func (m *Member) TransactionalID() string { return m.cfg.TransactionalID }

// Poll waits at most wait for records (ctx's end cuts it short) and
// returns them, or stop once ctx is done or the client closed, or a fetch
// error that ends the run (a group or topic the client may not read, a
// session timeout the broker refuses). Other fetch errors are logged: kgo
// retries them. Rebalances wait until AllowRebalance.
func (m *Member) Poll(ctx context.Context, wait time.Duration) (fs kgo.Fetches, stop bool, err error) {
	pctx, cancel := context.WithTimeout(ctx, wait)
	fs = m.cl.PollFetches(pctx)
	cancel()
	if ctx.Err() != nil || fs.IsClientClosed() {
		return nil, true, nil
	}
	if m.fit != nil {
		if w := m.fit.fit(m.cl); w != 0 {
			m.cfg.Log.Debug("partition fetch size fitted to the records", "topic", m.cfg.Topic, "bytes", w, "records", m.fit.records, "largest_batch", m.fit.largest.Load())
		}
	}
	fs.EachError(func(t string, p int32, ferr error) {
		if errors.Is(ferr, context.Canceled) || errors.Is(ferr, context.DeadlineExceeded) {
			return
		}
		m.cfg.Log.Warn("fetch error", "topic", t, "partition", p, "err", ferr)
		if f := m.fatalFetch(ferr); f != nil && err == nil {
			err = f
		}
	})
	return fs, false, err
}

// fatalFetch returns the error a fetch error ends the run with, or nil for
// one kgo retries.
func (m *Member) fatalFetch(err error) error {
	switch {
	case errors.Is(err, kerr.UnknownTopicID), errors.Is(err, kerr.UnknownTopicOrPartition):
		return m.recreated()
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return Why(err, m.cl, "READ", "group", m.cfg.Group)
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return Why(err, m.cl, "READ", "topic", m.cfg.Topic)
	case errors.Is(err, kerr.InvalidSessionTimeout):
		return fmt.Errorf("%w: %w", err, setting.Invalid("SessionTimeout", m.cfg.SessionTimeout,
			"the broker refuses it: it must lie within the brokers' group.min.session.timeout.ms and group.max.session.timeout.ms"))
	}
	return nil
}

// recreated returns an error if the topic is gone, or has another id than
// when the run began: deleted and created again under the same name. It
// asks the cluster at most once a second (a fetch error comes per
// partition per fetch).
func (m *Member) recreated() error {
	if m.cfg.TopicID == "" || time.Since(m.checked) < time.Second {
		return nil
	}
	m.checked = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := TopicID(ctx, kadm.NewClient(m.cl), m.cfg.Topic)
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("topic %s was deleted while this run read it (its id was %s); the group's commits, and what was written, belong to the deleted topic", m.cfg.Topic, m.cfg.TopicID)
	case err != nil || id == m.cfg.TopicID:
		return nil // not known to be gone: kgo retries
	}
	return &RecreatedError{Topic: m.cfg.Topic, Group: m.cfg.Group, Was: m.cfg.TopicID, Now: id}
}

// RecreatedError says a topic was deleted and created again under the
// same name (its id changed) while a group read it, or since the group
// committed: the group's offsets and what it wrote belong to the old topic,
// and applied to the new one they would skip its records.
type RecreatedError struct {
	Topic, Group string
	Was, Now     string // the topic's ids
}

func (e *RecreatedError) Error() string {
	return fmt.Sprintf("topic %s was deleted and created again (id %s, now %s): group %s's commits, and what it wrote, belong to the old topic, and read on they would skip the new one's records; read the new topic with another group (and output that does not hold the old topic's batches)", e.Topic, e.Was, e.Now, e.Group)
}

// AllowRebalance lets a rebalance held back by the last poll go on.
func (m *Member) AllowRebalance() { m.cl.AllowRebalance() }

// Commit commits offsets for Topic as the group's, outside any
// transaction, and reports whether it did. A failure is logged, not
// returned: what was written stays written, and the next commit (or a
// restart's re-read) covers it. It must not run under a lock that the
// member's callbacks take: a commit waits out a rebalance, which waits for
// the callbacks.
func (m *Member) Commit(ctx context.Context, offsets map[int32]Commit) bool {
	if len(offsets) == 0 {
		return false
	}
	offs := make(map[int32]kgo.EpochOffset, len(offsets))
	for p, o := range offsets {
		offs[p] = kgo.EpochOffset{Epoch: -1, Offset: o.Offset}
	}
	topic := m.cfg.Topic
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			if t := &req.Topics[i]; t.Topic == topic {
				for j := range t.Partitions {
					p := &t.Partitions[j]
					p.Metadata = metadata(offsets[p.Partition].Metadata)
				}
			}
		}
		return nil
	})
	var cerr error
	m.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{m.cfg.Topic: offs},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
						cerr = fmt.Errorf("commit %s partition %d: %w", t.Topic, p.Partition, err)
					}
				}
			}
		})
	if cerr != nil {
		m.cfg.Log.Warn("commit failed; will retry", "err", cerr)
		return false
	}
	return true
}

// Close leaves the group and closes the client.
func (m *Member) Close() { m.cl.Close() }

// troubleHook counts what a broker restart looks like from a client: dials
// that fail, and requests whose connection breaks under them; and notes
// when a request was last answered, and when one last failed.
type troubleHook struct{ n, answered, failed *atomic.Int64 }

func (h troubleHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.n.Add(1)
		h.failed.Store(time.Now().UnixNano())
	}
}

func (h troubleHook) OnBrokerE2E(_ kgo.BrokerMetadata, _ int16, e kgo.BrokerE2E) {
	switch err := e.Err(); {
	case err == nil:
		h.answered.Store(time.Now().UnixNano())
	case !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		h.n.Add(1)
		h.failed.Store(time.Now().UnixNano())
	}
}

// Unanswered says why the brokers look out of reach, or "": no request of
// the member's client has been answered for longer than wait, and dials or
// requests failed meanwhile. A member reads (fetches, heartbeats) several
// times a second while the brokers are up, idle or not, so this finds an
// outage that nothing the member writes has run into yet.
func (m *Member) Unanswered(wait time.Duration) string {
	answered, failed := m.answered.Load(), m.failed.Load()
	since := time.Since(time.Unix(0, answered))
	if failed < answered || since <= wait {
		return ""
	}
	return fmt.Sprintf("no broker has answered for %v: dials and requests fail", since.Round(100*time.Millisecond))
}

// metadata is s as a commit's metadata field: nil for none.
func metadata(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
