// Package consumer reads segment records from a Kafka topic, assembles them
// into batches by (batch_id, segment_id), merges every batch with a k-way
// merge and writes the batches in ascending batch-id order to a sink (file,
// stdout) and/or an output topic; records it cannot use go to <topic>.dlq.
//
// # Modes
//
// All three modes give byte-identical output; they differ in how the work
// is spread, as the original take-home's three consumers did:
//
//   - simple: one group member, one loop: poll, decode, assemble, merge,
//     write.
//   - scalable: several group members in one process (one per partition by
//     default), sharing one assembler, so batches spanning partitions owned
//     by different members are still assembled whole.
//   - concurrent: one member; the partitions of each poll are decoded in
//     parallel and the batches it completes are merged in parallel, then
//     written in order by one writer.
//
// # Offsets and exactly once
//
// Offsets are committed by hand, only for records whose batches are written
// and flushed (or dead-lettered): see package assemble. A crash re-reads the
// batches not yet committed. Each sink makes that exactly once in its own way:
//
//   - The output topic (simple and concurrent modes) is written in Kafka
//     transactions, one per commit interval, holding the merged records, the
//     dead letters and the input offsets. GroupTransactSession.End would
//     commit every offset polled, including records of batches still being
//     assembled; a PreTxnCommitFnContext hook rewrites them to the safe
//     offsets. An abort rolls the core back to the last commit (kgo rewinds
//     the fetch positions there) and the work is redone.
//   - An output file resumes (see sink.Open): fsynced before every commit,
//     written in batch order, it skips re-read batches it already holds.
//   - Scalable mode commits each member's partitions separately; its output
//     topic is at least once.
//
// # Memory
//
// Config.Memory bounds what a consumer holds, whatever the size of a batch:
// memory.go derives the fetch, held-record and output limits from it and
// pauses partitions that run ahead; stream.go merges a batch too large to
// hold while its chunks arrive, and undoes it if it turns out broken.
// pipeline.go is concurrent mode's merge pipeline: merge and render workers,
// one per core, and one ordered writer.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/progress"
	"github.com/segmerge/segmerge/sink"
)

// Run consumes until ctx is done, -e reaches the end, or -c batches are
// written; it then flushes what was written, commits, leaves the group and
// returns. Cancelling ctx is a clean stop, not an error. A stop waits on a
// group rebalance a bounded time only (Config.stopGrace, closeWait): past
// it Run returns with its clients still leaving the group in the
// background, until kgo's own request timeouts end them.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Counters == nil {
		cfg.Counters = new(progress.Counters)
	}
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	start := time.Now()
	// kadm answers from the client's metadata cache; a short minimum age
	// lets a consumer started before its topic see it soon after it is
	// created (kgo's default keeps "missing" for 5s).
	admCl, err := kafka.Client(cfg.Brokers, kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		return Stats{}, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)

	parts, err := waitTopic(ctx, adm, &cfg)
	if err != nil || parts == 0 {
		return Stats{}, err
	}
	lim := cfg.limits(parts)
	c := &core{
		cfg:         &cfg,
		asmCfg:      assemble.Config{Segments: cfg.Segments, Partitions: parts, Whole: true, Timeout: cfg.BatchTimeout},
		next:        map[int32]int64{},
		base:        map[int32]assemble.Start{},
		hwm:         map[int32]int64{},
		lastWritten: -1,
		lim:         lim,
		refused:     map[int64]string{},
		pool:        make([]scratch, runtime.GOMAXPROCS(0)),
	}
	if cfg.Mode != ModeScalable {
		// Streaming undoes a broken batch by rolling one member back;
		// scalable mode's members cannot be rolled back together.
		c.asmCfg.StreamAbove = lim.streamAbove
	}
	c.asm = c.newAssembler()
	if cfg.ExitAtEnd {
		if c.endAt, err = kafka.EndOffsets(ctx, adm, cfg.Topic); err != nil {
			return Stats{}, err
		}
		if c.startAt, err = kafka.StartOffsets(ctx, adm, cfg.Topic); err != nil {
			return Stats{}, err
		}
	}

	// Everything that can fail before the members exist comes first, so
	// that a failure leaves no client behind.
	if cfg.OutputTopic != "" {
		if _, _, err := kafka.EnsureTopic(ctx, adm, cfg.Log, cfg.OutputTopic, parts, false); err != nil {
			return Stats{}, err
		}
	}
	// One producer for the output topic and the dead letters: in
	// transactional mode the member's own client (below), so that what it
	// writes commits or aborts with the input offsets.
	if !cfg.transactional() {
		pcl, err := kafka.Client(cfg.Brokers, kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedBytes(lim.produceBuffer),
			kgo.RecordPartitioner(kafka.BatchPartitioner(cfg.OutputTopic)))
		if err != nil {
			return Stats{}, err
		}
		defer pcl.Close()
		c.prod = &producer{cl: pcl}
	}

	members := 1
	if cfg.Mode == ModeScalable {
		members = cfg.Consumers
		if members == 0 {
			members = int(parts)
		}
	}
	ms := make([]*member, members)
	for i := range ms {
		m := &member{c: c, adm: adm, owned: map[int32]bool{}, paused: map[int32]bool{}, parallel: cfg.Mode == ModeConcurrent}
		if err = m.open(&cfg); err != nil {
			for _, m := range ms[:i] {
				m.cl.Close()
			}
			return Stats{}, err
		}
		ms[i] = m
	}

	if cfg.transactional() {
		c.prod = &producer{cl: ms[0].cl}
	}
	c.dlq = &deadLetters{p: c.prod, adm: adm, log: cfg.Log, group: cfg.Group, topic: cfg.Topic + ".dlq", parts: parts}
	if cfg.OutputTopic != "" {
		ts := &topicSink{p: c.prod, topic: cfg.OutputTopic, max: cfg.MaxRecordBytes}
		if cfg.Sink == nil {
			cfg.Sink = ts
		} else {
			cfg.Sink = sink.Multi{cfg.Sink, ts}
		}
	}

	if cfg.Mode == ModeConcurrent {
		c.pipe = newPipeline(cfg.Sink, lim.merging)
		defer c.pipe.close()
	}

	stopped := ctx // cancelled by the caller only: a stop (Ctrl+C)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	cfg.Log.Info("consuming", "topic", cfg.Topic, "group", cfg.Group, "mode", cfg.Mode, "members", members, "partitions", parts, "transactional", cfg.transactional())
	for _, m := range ms {
		if err := m.begin(); err != nil {
			for _, m := range ms {
				m.cl.Close()
			}
			return Stats{}, err
		}
	}

	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
	)
	for _, m := range ms {
		wg.Go(func() {
			err := m.loop(ctx)
			for err != nil && ctx.Err() == nil && m.restartable(err) {
				cfg.Log.Warn("the broker fenced this consumer's transaction after it restarted (it aborts what was open); starting a new transactional session from the last commit",
					"transactional_id", cfg.txnID(), "err", err)
				if err = m.restart(); err == nil {
					err = m.loop(ctx)
				}
			}
			if err != nil {
				errOnce.Do(func() { runErr = err })
			}
			stop() // one member's end (error, -e, -c) ends all
		})
	}
	wg.Wait()

	// Flush what was written and commit it (or end the transaction), then
	// leave the group: Close runs the revoke callback, which commits again
	// (a no-op by then).
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	c.mu.Lock()
	// A batch stopped in the middle of streaming is not written: cut it
	// from the sinks, and in transactional mode abort rather than commit
	// the transaction that holds part of it.
	streaming, serr := c.endStream()
	if serr == nil {
		serr = c.sync(fctx)
	}
	final := make([]map[int32]kgo.EpochOffset, len(ms))
	for i, m := range ms {
		final[i] = m.offsets(nil)
	}
	c.mu.Unlock()
	for i, m := range ms {
		// After an error the core may have rolled back, or a transaction
		// may have failed half ended: committing now could commit output
		// with offsets that do not cover it; and a batch stopped while it
		// streamed has part of it in the transaction. Abort; the next run
		// redoes it.
		if serr != nil || m.sess != nil && (runErr != nil || streaming || m.cut) {
			m.abandon(fctx)
			continue
		}
		switch cut, err := m.finishBy(fctx, stopped, final[i], false); {
		case cut:
			m.abandon(fctx)
		case err != nil:
			serr = err
		}
	}
	c.mu.Lock()
	c.stats.Late = int64(c.asm.Late())
	c.stats.Pending = c.asm.Pending() // before Close: its revoke forgets them
	if streaming {
		c.stats.Pending++
	}
	c.mu.Unlock()
	// Release every member's poll first, then leave together: one member
	// leaving rebalances the rest, whose callbacks must not be waiting on a
	// poll nobody will release.
	for _, m := range ms {
		m.cl.AllowRebalance()
	}
	closers := make([]func(), len(ms))
	for i, m := range ms {
		closers[i] = m.cl.Close
	}
	closeWithin(cfg.closeWait(), cfg.Log, closers...)
	c.stats.Elapsed = time.Since(start)
	if c.stats.Pending > 0 {
		cfg.Log.Warn("incomplete batches left pending (not committed; a later run resumes them)", "batches", c.stats.Pending)
	}
	return c.stats, explainFenced(errors.Join(runErr, serr), &cfg)
}

// explainFenced says what to do about a transactional producer fenced by
// another one using the same id, wherever the fence surfaced (a produce, a
// commit, the end of a transaction).
func explainFenced(err error, cfg *Config) error {
	if err == nil || !cfg.transactional() {
		return err
	}
	// A fence surfaces as any of these, depending on which request met it.
	if errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.InvalidTxnState) {
		return fmt.Errorf("%w: the transaction was fenced or invalidated; if another consumer uses transactional id %s, give each consumer process its own --transactional-id", err, cfg.txnID())
	}
	return err
}

// fenceErrs are what a transactional producer meets once the broker has
// bumped its epoch: PRODUCER_FENCED from the coordinator, INVALID_PRODUCER_EPOCH
// on produce (fatal to the client under KIP-890), INVALID_TXN_STATE for an
// EndTxn the broker no longer knows, and an unknown producer id.
var fenceErrs = []error{kerr.ProducerFenced, kerr.InvalidProducerEpoch, kerr.InvalidTxnState, kerr.InvalidProducerIDMapping, kerr.UnknownProducerID}

func isFence(err error) bool {
	for _, f := range fenceErrs {
		if errors.Is(err, f) {
			return true
		}
	}
	return false
}

// restartable reports whether a transactional member stopped by err should
// start a new session instead of ending the run.
//
// A fence normally means that a newer producer took the transactional id
// over: another consumer with the same id, which must win (zombie fencing is
// what transactional ids are for), so the run ends and explainFenced says
// what to change. But a broker can fence a producer itself: kfake, restarted
// after a crash, aborts every transaction that was open and bumps the
// producer's epoch, and the client's session is then dead although nobody
// else holds the id (Kafka does as much to a transaction that outlives its
// timeout). Kafka Streams answers a fence by closing its producer and
// rejoining with a new one; we do the same, but only when this session has
// met broker trouble (a failed dial, or a request cut off) since it began or
// last committed: a broker restart always shows as that, and a newer
// instance does not cause any. Five restarts without a commit between them
// end the run.
func (m *member) restartable(err error) bool {
	return m.sess != nil && isFence(err) && m.trouble.Load() > m.troubleSeen && m.restarts < 5
}

// restart closes m's session and opens a new one, which initializes the
// producer id again (fencing the old session, as a restarted process would)
// and rejoins the group; everything since the last commit is rolled back and
// redone from the committed offsets.
func (m *member) restart() error {
	c := m.c
	m.restarts++
	m.failures = 0
	m.cl.CloseAllowingRebalance() // leaves the group; revoked forgets the partitions
	c.mu.Lock()
	m.forget(slices.Collect(maps.Keys(m.owned)))
	c.rollback(nil)
	c.mu.Unlock()
	if err := m.open(c.cfg); err != nil {
		return err
	}
	// The trouble so far was this restart's reason (and the old client's
	// closing); only new trouble may excuse the next fence.
	m.troubleSeen = m.trouble.Load()
	c.prod.reset(m.cl)
	return m.begin()
}

// troubleHook counts what a broker restart looks like from a client: dials
// that fail, and requests whose connection breaks under them.
type troubleHook struct{ n *atomic.Int64 }

func (h troubleHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.n.Add(1)
	}
}

func (h troubleHook) OnBrokerE2E(_ kgo.BrokerMetadata, _ int16, e kgo.BrokerE2E) {
	if err := e.Err(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		h.n.Add(1)
	}
}

// waitTopic returns the input topic's partition count, waiting for it to be
// created unless -e is set (then a missing topic is an error).
func waitTopic(ctx context.Context, adm *kadm.Client, cfg *Config) (int32, error) {
	logged := false
	for {
		n, err := kafka.Partitions(ctx, adm, cfg.Topic)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return 0, err
		}
		if cfg.ExitAtEnd {
			return 0, fmt.Errorf("topic %s does not exist (nothing to read; produce to it first or check --topic)", cfg.Topic)
		}
		if !logged {
			cfg.Log.Info("waiting for the topic to be created", "topic", cfg.Topic)
			logged = true
		}
		select {
		case <-ctx.Done():
			return 0, nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// member is one group member: a client, the partitions it owns, its loop.
type member struct {
	c        *core
	cl       *kgo.Client
	sess     *kgo.GroupTransactSession // transactional mode only
	adm      *kadm.Client
	owned    map[int32]bool // guarded by c.mu
	paused   map[int32]bool // partitions paused for memory; guarded by c.mu
	parallel bool
	asked    time.Time // last time othersAtEnd asked the group
	failures int       // transactions aborted in a row
	cut      bool      // a stop cut off ending a transaction (see ending)

	// Transactional mode: what tells a broker restart's fence from a
	// newer instance's (see restartable).
	trouble     atomic.Int64 // failed dials and requests cut off, ever
	troubleSeen int64        // trouble at the last commit
	restarts    int          // sessions restarted since the last commit
}

// open creates m's client: a plain group consumer, or in transactional mode
// a GroupTransactSession whose client also produces the output.
func (m *member) open(cfg *Config) error {
	opts := m.options(cfg)
	if !cfg.transactional() {
		cl, err := kafka.Client(cfg.Brokers, opts...)
		m.cl = cl
		return err
	}
	opts = append(append(kafka.Options(cfg.Brokers), opts...),
		kgo.TransactionalID(cfg.txnID()),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedBytes(m.c.lim.produceBuffer),
		kgo.RecordPartitioner(kafka.BatchPartitioner(cfg.OutputTopic)),
		kgo.WithHooks(troubleHook{&m.trouble}),
	)
	s, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	m.sess, m.cl = s, s.Client()
	return nil
}

// begin starts a transaction, in transactional mode.
func (m *member) begin() error {
	if m.sess == nil {
		return nil
	}
	if err := m.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return nil
}

// finish makes offs (the safe offsets of everything written, which sync has
// made durable) the group's committed offsets: a plain commit, or the end of
// the transaction that holds the output. An aborted transaction rolls the
// core back to the last commit and is redone; only a fatal error, or five
// failures in a row, ends the run. With again, a new transaction begins.
func (m *member) finish(ctx context.Context, offs map[int32]kgo.EpochOffset, again bool) error {
	c := m.c
	if m.sess == nil {
		if m.commit(ctx, offs) {
			c.mu.Lock()
			c.committed(offs)
			c.mu.Unlock()
		}
		return nil
	}
	// End commits the offsets polled; rewrite them to the safe ones.
	topic := c.cfg.Topic
	rewrite := func(req *kmsg.TxnOffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			if t.Topic != topic {
				continue
			}
			kept := t.Partitions[:0]
			for _, p := range t.Partitions {
				if o, ok := offs[p.Partition]; ok {
					p.Offset, p.LeaderEpoch = o.Offset, -1
					kept = append(kept, p)
				}
			}
			t.Partitions = kept
		}
		return nil
	}
	committed, err := m.sess.End(kgo.PreTxnCommitFnContext(ctx, rewrite), kgo.TryCommit)
	c.mu.Lock()
	if committed {
		c.committed(offs)
		m.failures, m.restarts = 0, 0
		m.troubleSeen = m.trouble.Load()
	} else {
		c.rollback(m.owned)
		m.failures++
	}
	c.mu.Unlock()
	switch {
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return fmt.Errorf("transaction %s: %w", c.cfg.txnID(), err) // fatal; Run explains a fence
	case !committed && m.failures >= 5:
		return fmt.Errorf("transaction %s aborted %d times in a row: %w", c.cfg.txnID(), m.failures, err)
	case !committed && err != nil:
		c.cfg.Log.Warn("transaction aborted; redoing from the last commit", "err", err)
	case !committed:
		// A rebalance: routine when several processes share the group.
		c.cfg.Log.Info("transaction aborted by a rebalance; redoing from the last commit")
	}
	if !again {
		return nil
	}
	if berr := m.begin(); berr != nil {
		return errors.Join(err, berr) // the end's error says why
	}
	return nil
}

// finishBy is finish under ending(base, stop): cut a grace after a stop.
// A cut end is not an error: it leaves its transaction to be aborted
// (m.cut, see Run), or its offsets uncommitted, for the next run to redo.
func (m *member) finishBy(base, stop context.Context, offs map[int32]kgo.EpochOffset, again bool) (cut bool, err error) {
	ectx, release := ending(base, stop, m.c.cfg.stopGrace())
	defer release()
	err = m.finish(ectx, offs, again)
	if wasCut(ectx, m.c.cfg.Log) {
		m.cut = true
		return true, nil
	}
	return false, err
}

// wasCut reports whether ending's context ectx was cut by a stop, and says
// so in the log.
func wasCut(ectx context.Context, log *slog.Logger) bool {
	if context.Cause(ectx) != errCut {
		return false
	}
	log.Warn("stopped while committing waited on a group rebalance; the next run redoes what was not committed")
	return true
}

// errCut is the cause of an ending context cut by a stop.
var errCut = errors.New("stopped while ending a transaction")

// ending returns the context that ending a transaction (or committing
// offsets) runs under once begun: base, not cut short by a stop (stop's
// end), so that an end in flight completes rather than leave its
// transaction undecided, but cut grace after the stop, with cause errCut.
// Ending a transaction waits for a group rebalance under way, and one under
// way when a group's processes stop together can last a minute (kgo waits
// out the rebalance timeout for a member that does not rejoin, and the
// embedded broker can drop a JoinGroup answer under load): a stop waited
// that long for it, or the broker's transaction timeout fenced the producer
// first and the stop exited 1. An end cut off would mostly have aborted
// anyway, the generation having changed; either way the next run redoes it.
// The returned func releases the context.
func ending(base, stop context.Context, grace time.Duration) (context.Context, func()) {
	ectx, cancel := context.WithCancelCause(base)
	unregister := context.AfterFunc(stop, func() {
		t := time.AfterFunc(grace, func() { cancel(errCut) })
		context.AfterFunc(ectx, func() { t.Stop() })
	})
	return ectx, func() { unregister(); cancel(nil) }
}

// closeWithin closes clients at once and waits for them, at most d. A
// client leaving its group waits for a JoinGroup it has in flight, which
// the coordinator answers only once every member rejoined or the rebalance
// timeout (kgo's 60s) passed, or never, when the embedded broker drops
// the answer under load. Past d it returns, logging that, with the closes
// still running: the group then drops this member after the session
// timeout, as it would a crashed one, and what was committed stays so.
func closeWithin(d time.Duration, log *slog.Logger, closers ...func()) {
	var closing sync.WaitGroup
	for _, c := range closers {
		closing.Go(c)
	}
	done := make(chan struct{})
	go func() { closing.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn("leaving the group is held up by a rebalance; not waiting for it (the group drops this member after --session-timeout)", "waited", d.String())
	}
}

// abandon aborts the open transaction, if any, at a stop that could not
// flush its output.
func (m *member) abandon(ctx context.Context) {
	if m.sess == nil {
		return
	}
	if _, err := m.sess.End(ctx, kgo.TryAbort); err != nil {
		// The broker aborts it at the transaction timeout, or the next
		// run's InitProducerID fences it sooner.
		m.c.cfg.Log.Warn("abort the open transaction", "err", err)
	}
}

func (m *member) options(cfg *Config) []kgo.Opt {
	reset := kgo.NewOffset().AtEnd()
	if cfg.FromBeginning {
		reset = kgo.NewOffset().AtStart()
	}
	return append([]kgo.Opt{
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
		// kgo's 3s heartbeat must come well inside a shorter session.
		kgo.HeartbeatInterval(min(3*time.Second, cfg.SessionTimeout/3)),
		kgo.OnPartitionsAssigned(m.assigned),
		kgo.OnPartitionsRevoked(m.revoked),
		kgo.OnPartitionsLost(m.lost),
	}, m.c.lim.fetchOptions()...)
}

// loop polls and processes until ctx is done or the run's end is reached.
func (m *member) loop(ctx context.Context) error {
	c := m.c
	// Polls end after a short wait even when nothing arrives, so that an
	// idle consumer still flushes, commits, and sees -e's end.
	wait := min(c.cfg.CommitInterval, 250*time.Millisecond)
	// A stop (Ctrl+C) cancels ctx, which ends the poll; work already
	// begun (a flush, the end of a transaction) runs to its end under
	// work instead of failing half done: a transaction cut off inside End
	// stays open, and must not be mistaken for an abort.
	work := context.WithoutCancel(ctx)
	for {
		pctx, cancel := context.WithTimeout(ctx, wait)
		fs := m.cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil || fs.IsClientClosed() {
			m.cl.AllowRebalance()
			return nil
		}
		var fatal error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			// kgo retries what it can; what reaches us is logged, and a
			// fatal group error ends the run.
			c.cfg.Log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			if f := fetchFatal(err, c.cfg); f != nil {
				fatal = f
			}
		})
		if fatal != nil {
			m.cl.AllowRebalance()
			return fatal
		}
		var decs [][]decoded
		if m.parallel {
			decs = decodeParallel(fs, c)
		}
		c.mu.Lock()
		offs, err := m.process(work, fs, decs)
		redo := errors.Is(err, errRedo)
		if redo && m.sess == nil {
			m.rewind() // before AllowRebalance, as SetOffsets asks
		}
		pause, resume := c.pauses(m.owned, m.paused)
		m.setPaused(pause, resume)
		c.mu.Unlock()
		m.cl.AllowRebalance()
		if redo {
			if err := m.redo(work); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		// Commit outside c.mu: a commit waits out a rebalance, and the
		// rebalance waits for other members' callbacks, which take c.mu.
		if offs != nil {
			if cut, err := m.finishBy(work, ctx, offs, true); cut || err != nil {
				return err
			}
		}
		// Judge the end after the commit: an aborted transaction has
		// rolled the position back.
		c.mu.Lock()
		done := c.countReached(0)
		ours, others := c.atEnd()
		c.noteUnassigned()
		c.mu.Unlock()
		if done || ours && m.othersAtEnd(ctx, others) {
			if m.sess == nil || c.stream != nil {
				// Run commits the last offsets (a batch still
				// streaming: Run aborts its transaction).
				return nil
			}
			// End the last transaction here, where an abort can be
			// redone: it rolls back, and the loop reads again.
			c.mu.Lock()
			err := c.sync(work)
			offs := m.offsets(nil)
			c.mu.Unlock()
			if err != nil {
				return err
			}
			if cut, err := m.finishBy(work, ctx, offs, true); cut || err != nil {
				return err
			}
			if m.failures == 0 {
				return nil
			}
		}
	}
}

// fetchFatal returns the error a fetch error ends the run with, or nil for
// one kgo retries: a group or topic the client may not read, or a session
// timeout the broker refuses.
func fetchFatal(err error, cfg *Config) error {
	switch {
	case errors.Is(err, kerr.GroupAuthorizationFailed) || errors.Is(err, kerr.TopicAuthorizationFailed):
		return err
	case errors.Is(err, kerr.InvalidSessionTimeout):
		return fmt.Errorf("invalid --session-timeout %v: %w", cfg.SessionTimeout, err)
	}
	return nil
}

// othersAtEnd reports whether the partitions not assigned in this process
// are done by the group's commits: committed at or past the end offsets read
// at start (or empty then). Another process of the group, or a rebalance in
// flight here, may own them; only their commits say they are finished. It
// asks the group at most every 200ms.
func (m *member) othersAtEnd(ctx context.Context, others []int32) bool {
	c := m.c
	if len(others) == 0 {
		return true
	}
	if time.Since(m.asked) < 200*time.Millisecond {
		return false
	}
	m.asked = time.Now()
	committed, err := kafka.Committed(ctx, m.adm, c.cfg.Group, c.cfg.Topic)
	if err != nil {
		c.cfg.Log.Warn("read the group's commits", "err", err)
		return false
	}
	for _, p := range others {
		if c.endAt[p] > c.startAt[p] && committed[p] < c.endAt[p] {
			return false
		}
	}
	return true
}

// process adds one poll's records, releases and writes what is ready, and
// every CommitInterval syncs and returns the offsets to commit. It runs under
// c.mu.
func (m *member) process(ctx context.Context, fs kgo.Fetches, decs [][]decoded) (map[int32]kgo.EpochOffset, error) {
	c := m.c
	i := 0
	var err error
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || len(fp.Records) == 0 {
			return
		}
		if decs != nil {
			err = c.add(ctx, &fp.FetchPartition, decs[i])
			i++
			return
		}
		err = c.take(ctx, &fp.FetchPartition)
	})
	if err != nil {
		return nil, err
	}
	if err := c.release(ctx, m.parallel); err != nil {
		return nil, err
	}
	switch {
	case m.sess != nil && c.stream != nil && !c.begun:
		// A streaming batch waits for a transaction of its own:
		// commit the batches before it now.
	case m.sess != nil && c.stream != nil:
		return nil, nil // never commit part of a batch
	case time.Since(c.synced) < c.cfg.CommitInterval:
		return nil, nil
	}
	if err := c.sync(ctx); err != nil {
		return nil, err
	}
	offs := c.commits(m.owned)
	if offs == nil {
		offs = map[int32]kgo.EpochOffset{} // due, with nothing to commit
	}
	return offs, nil
}

// offsets returns the safe offsets of the partitions m owns, or of those in
// parts if parts is not nil. The caller holds c.mu.
func (m *member) offsets(parts []int32) map[int32]kgo.EpochOffset {
	owned := m.owned
	if parts != nil {
		owned = map[int32]bool{}
		for _, p := range parts {
			owned[p] = m.owned[p]
		}
	}
	return m.c.commits(owned)
}

// commit commits offs for m's group and reports whether it did. It must not
// run under c.mu (see loop). A failed commit is logged, not fatal: the
// batches are written, and the next commit (or a restart's re-read) covers
// them.
func (m *member) commit(ctx context.Context, offs map[int32]kgo.EpochOffset) bool {
	if len(offs) == 0 {
		return false
	}
	var cerr error
	m.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{m.c.cfg.Topic: offs},
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
		m.c.cfg.Log.Warn("commit failed; will retry", "err", cerr)
		return false
	}
	return true
}

// assigned adds newly assigned partitions, positioned at the group's
// committed offsets (else the reset offset), and notes which are caught up.
func (m *member) assigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c := m.c
	parts := assigned[c.cfg.Topic]
	if len(parts) == 0 {
		return
	}
	starts, err := m.positions(ctx, parts)
	if err != nil {
		c.cfg.Log.Error("read positions of assigned partitions", "err", err)
		// Unknown positions: not caught up, offsets unknown; the first
		// fetch of each partition sets them.
		starts = map[int32]assemble.Start{}
		for _, p := range parts {
			starts[p] = assemble.Start{Next: -1}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range parts {
		m.owned[p] = true
	}
	c.assign(starts)
	c.cfg.Log.Debug("assigned", "partitions", parts)
}

// positions returns where each of parts starts: the group's committed
// offset, else the start or end of the log (a fresh start).
func (m *member) positions(ctx context.Context, parts []int32) (map[int32]assemble.Start, error) {
	cfg := m.c.cfg
	committed, err := kafka.Committed(ctx, m.adm, cfg.Group, cfg.Topic)
	if err != nil {
		return nil, err
	}
	ends, err := kafka.EndOffsets(ctx, m.adm, cfg.Topic)
	if err != nil {
		return nil, err
	}
	logStarts, err := kafka.StartOffsets(ctx, m.adm, cfg.Topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]assemble.Start{}
	for _, p := range parts {
		off, ok := committed[p]
		reset := !ok || off < logStarts[p]
		switch {
		case !reset:
		case cfg.FromBeginning:
			off = logStarts[p]
		default:
			off = ends[p]
		}
		// Fresh: a reset with records before it, so a batch may have
		// begun there. Starting at the log's first offset, nothing did.
		fresh := reset && off > logStarts[p]
		out[p] = assemble.Start{Next: off, CaughtUp: off >= ends[p], Fresh: fresh}
	}
	return out, nil
}

// revoked commits what is written for the partitions being taken away, then
// forgets their pending records.
func (m *member) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c := m.c
	parts := revoked[c.cfg.Topic]
	if m.sess != nil {
		// The session aborts the open transaction at its End, and the
		// rollback then starts over from the committed offsets.
		m.lost(ctx, nil, revoked)
		return
	}
	c.mu.Lock()
	var offs map[int32]kgo.EpochOffset
	if err := c.sync(ctx); err != nil {
		c.cfg.Log.Error("flush before giving up partitions", "err", err)
	} else {
		offs = m.offsets(parts)
	}
	m.forget(parts)
	c.mu.Unlock()
	m.commit(ctx, offs)
}

// lost forgets partitions taken away without a chance to commit.
func (m *member) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	m.forget(lost[m.c.cfg.Topic])
}

func (m *member) forget(parts []int32) {
	var resume []int32
	for _, p := range parts {
		delete(m.owned, p)
		if m.paused[p] {
			resume = append(resume, p) // not paused for its next owner here
		}
	}
	m.setPaused(nil, resume)
	m.c.revoke(parts)
}

// setPaused pauses and resumes fetching partitions of the topic. The caller
// holds c.mu.
func (m *member) setPaused(pause, resume []int32) {
	topic := m.c.cfg.Topic
	if len(pause) > 0 {
		m.cl.PauseFetchPartitions(map[string][]int32{topic: pause})
		for _, p := range pause {
			m.paused[p] = true
		}
	}
	if len(resume) > 0 {
		m.cl.ResumeFetchPartitions(map[string][]int32{topic: resume})
		for _, p := range resume {
			delete(m.paused, p)
		}
	}
}

// rewind, in plain-commit mode, rolls the core back to the last commit and
// sets the fetch positions there (see stream.go). The caller holds c.mu and
// the poll's rebalance block.
func (m *member) rewind() {
	c := m.c
	c.rollback(m.owned)
	offs := map[int32]kgo.EpochOffset{}
	for p := range m.owned {
		if s := c.base[p]; s.Next >= 0 {
			offs[p] = kgo.EpochOffset{Epoch: -1, Offset: s.Next}
		}
	}
	m.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{c.cfg.Topic: offs})
}

// redo, after a streaming batch turned out broken, aborts the transaction
// (which rolls the core back, and kgo's positions with it) and begins the
// next; in plain-commit mode rewind has done the work.
func (m *member) redo(ctx context.Context) error {
	if m.sess == nil {
		return nil
	}
	committed, err := m.sess.End(ctx, kgo.TryAbort)
	m.c.mu.Lock()
	m.c.rollback(m.owned)
	m.c.mu.Unlock()
	switch {
	case err != nil:
		return fmt.Errorf("abort the transaction holding a broken batch: %w", err)
	case committed:
		return errors.New("abort the transaction holding a broken batch: it committed instead")
	}
	return m.begin()
}

// decodeParallel decodes each fetched partition's records on its own
// goroutine, at most one per core at a time, in the order EachPartition
// visits them.
func decodeParallel(fs kgo.Fetches, c *core) [][]decoded {
	var rs [][]*kgo.Record
	var limits []int64
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) > 0 {
			rs = append(rs, fp.Records)
			limits = append(limits, c.limit(fp.Partition)) // endAt is fixed at start: no lock
		}
	})
	out := make([][]decoded, len(rs))
	parallelFor(c.pool, len(rs), func(i int, d *scratch) { out[i] = decodeAll(&d.dec, rs[i], limits[i]) })
	return out
}
