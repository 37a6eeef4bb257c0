package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/consumer/internal/ledger"
	"github.com/segmerge/segmerge/emit"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/metrics"
	"github.com/segmerge/segmerge/sink"
)

// Run consumes until ctx is done, -e reaches the end, or Count batches are
// written; it then flushes what was written, commits, leaves the group and
// returns. Cancelling ctx is a clean stop, not an error. A stop waits on a
// group rebalance a bounded time only (kafka.StopGrace, kafka.CloseWait):
// past it Run returns with its clients still leaving the group in the
// background, until kgo's own request timeouts end them.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = new(metrics.Run)
	}
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	start := time.Now()
	adm, closeAdm, parts, err := kafka.Input(ctx, cfg.cluster(), cfg.Log, cfg.Topic, cfg.ExitAtEnd)
	if err != nil || parts == 0 {
		return Stats{}, err
	}
	defer closeAdm()
	e := newEngine(&cfg, parts)
	e.adm, e.start = adm, start
	ms, closeOut, err := e.setup(ctx, parts)
	if err != nil {
		return Stats{}, err
	}
	defer closeOut()
	cfg.Log.Info("consuming", "topic", cfg.Topic, "group", cfg.Group, "mode", cfg.Mode, "members", len(ms), "partitions", parts, "transactional", cfg.transactional())
	runErr := e.run(ctx, ms)
	serr := e.shut(ctx, ms, runErr)
	e.stats.Elapsed = time.Since(start)
	if e.stats.Pending > 0 {
		cfg.Log.Warn("incomplete batches left pending (not committed; a later run resumes them)", "batches", e.stats.Pending)
	}
	txnID := ""
	if cfg.transactional() {
		txnID = cfg.txnID()
	}
	return e.stats, kafka.Explain(errors.Join(runErr, serr), "TransactionalID", txnID)
}

// setup makes what the run writes with, then its members, each begun: the
// -e watch, the output topic, the producer, the dead letters, the sinks,
// the pipeline. Everything that can fail before the members exist comes
// first, so that a failure leaves no client behind. closeOut closes what
// setup made beside the members.
func (e *engine) setup(ctx context.Context, parts int32) (ms []*member, closeOut func(), err error) {
	cfg := e.cfg
	if e.topicID, err = kafka.TopicID(ctx, e.adm, cfg.Topic); err != nil {
		return nil, nil, err
	}
	if err := e.checkCommits(ctx); err != nil {
		return nil, nil, err
	}
	if err := e.claimSinks(); err != nil {
		return nil, nil, err
	}
	inputMax, err := kafka.MaxMessageBytes(ctx, e.adm, cfg.Topic)
	if err != nil {
		return nil, nil, err
	}
	var closers []func()
	closeOut = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			for _, m := range ms {
				m.km.Close()
			}
			closeOut()
		}
	}()
	if cfg.ExitAtEnd {
		if e.end, err = kafka.NewEndWatch(ctx, e.adm, cfg.Group, cfg.Topic, cfg.FromBeginning); err != nil {
			return nil, nil, err
		}
	}
	if cfg.OutputTopic != "" {
		if _, _, err := kafka.EnsureTopic(ctx, e.adm, cfg.Log, cfg.OutputTopic, parts, false); err != nil {
			return nil, nil, err
		}
		if _, err := e.limits.Learn(ctx, e.adm, cfg.OutputTopic); err != nil {
			return nil, nil, err
		}
		if room := e.limits.Room(cfg.OutputTopic) - blockSlack; room < minRecordBytes {
			return nil, nil, fmt.Errorf("output topic %s takes record batches of at most %d bytes (its max.message.bytes): too small for merged batches; raise it to 64KiB or more",
				cfg.OutputTopic, e.limits.Batch(cfg.OutputTopic))
		}
	}
	// One producer for the output topic and the dead letters: in
	// transactional mode the member's own (below), so that what it
	// writes commits or aborts with the input offsets.
	if !cfg.transactional() {
		pcl, err := cfg.cluster().Defaults(kgo.ProducerLinger(kafka.Linger)).Client(kgo.MaxBufferedBytes(e.lim.Produce),
			kgo.RecordPartitioner(kafka.BatchPartitioner(cfg.OutputTopic)), e.limits.Opt())
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, pcl.Close)
		e.prod = kafka.NewProducer(pcl)
	}
	n := 1
	if cfg.Mode == ModeScalable {
		if n = cfg.Consumers; n == 0 {
			n = int(parts)
		}
	}
	for i := range n {
		m, err := e.join(i == 0)
		if err != nil {
			return ms, nil, err
		}
		ms = append(ms, m)
	}
	if cfg.transactional() {
		e.prod = ms[0].km.Producer()
	}
	e.dlq = kafka.NewDeadLetters(e.prod, e.adm, cfg.Log, cfg.Group, cfg.Topic, parts, inputMax, &e.limits)
	e.sinks()
	if cfg.Mode == ModeConcurrent {
		e.pipe = emit.NewPipeline(cfg.Sink, e.lim.Merging, e.written)
		closers = append(closers, func() { e.pipe.Close() })
	}
	for _, m := range ms {
		if err := m.km.Begin(); err != nil {
			return ms, nil, err
		}
	}
	return ms, closeOut, nil
}

// sinks adds the output topic to the configured sink, and in the batch
// layout makes every writer write every batch: batch ids do not ascend
// there, so skipping ids a writer has passed would lose batches.
func (e *engine) sinks() {
	cfg := e.cfg
	if cfg.Layout == LayoutBatch {
		writeAll(cfg.Sink)
	}
	if cfg.OutputTopic == "" {
		return
	}
	ts := &topicSink{p: e.prod, topic: cfg.OutputTopic, max: min(cfg.MaxRecordBytes, e.limits.Room(cfg.OutputTopic)-blockSlack)}
	if cfg.Sink == nil {
		cfg.Sink = ts
	} else {
		cfg.Sink = sink.Multi{cfg.Sink, ts}
	}
}

// claimSinks tells every sink that keeps what it writes (a file) where its
// batches come from: topic, its id, group, layout. A file resumed from
// elsewhere is refused (sink.Claimer).
func (e *engine) claimSinks() error {
	cfg := e.cfg
	origin := fmt.Sprintf("topic=%s id=%s group=%s layout=%s", cfg.Topic, e.topicID, cfg.Group, cfg.Layout)
	var err error
	each(cfg.Sink, func(s sink.Sink) {
		if c, ok := s.(sink.Claimer); ok && err == nil {
			err = c.Claim(origin)
		}
	})
	return err
}

// each calls f with every sink in s, sink.Multi flattened.
func each(s sink.Sink, f func(sink.Sink)) {
	if m, ok := s.(sink.Multi); ok {
		for _, t := range m {
			each(t, f)
		}
		return
	}
	if s != nil {
		f(s)
	}
}

// writeAll makes every sink.Writer in s write every batch.
func writeAll(s sink.Sink) {
	each(s, func(s sink.Sink) {
		if w, ok := s.(interface{ WriteAll() }); ok {
			w.WriteAll()
		}
	})
}

// run runs every member's loop until one ends (an error, -e, Count), which
// ends all, and returns the first error.
func (e *engine) run(ctx context.Context, ms []*member) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		runErr  error
	)
	for _, m := range ms {
		wg.Go(func() {
			err := m.loop(ctx)
			for err != nil && ctx.Err() == nil && m.km.Restartable(err) {
				e.cfg.Log.Warn("the broker fenced this consumer's transaction after it restarted (it aborts what was open); starting a new transactional session from the last commit",
					"transactional_id", m.km.TransactionalID(), "err", err)
				if err = m.restart(); err == nil {
					err = m.loop(ctx)
				}
			}
			if err != nil {
				errOnce.Do(func() { runErr = err })
			}
			stop() // one member's end (error, -e, Count) ends all
		})
	}
	wg.Wait()
	return runErr
}

// shut flushes what was written and commits it (or ends the transaction),
// then leaves the group: Close runs the revoke callback, which commits
// again (a no-op by then). stopped is the caller's context: done at a stop.
func (e *engine) shut(stopped context.Context, ms []*member, runErr error) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(stopped), 30*time.Second)
	defer cancel()
	e.mu.Lock()
	// A batch stopped in the middle of streaming is not written: cut it
	// from the sinks, and in transactional mode abort rather than commit
	// the transaction that holds part of it.
	streaming, serr := e.endStream()
	if serr == nil {
		serr = e.sync(fctx)
	}
	final := make([]map[int32]ledger.Mark, len(ms))
	for i, m := range ms {
		if serr == nil {
			final[i], serr = e.commitPoint(fctx, m)
		}
	}
	e.mu.Unlock()
	for i, m := range ms {
		// After an error the engine may have rolled back, or a
		// transaction may have failed half ended: committing now could
		// commit output with offsets that do not cover it; and a batch
		// stopped while it streamed has part of it in the transaction.
		// Abort; the next run redoes it.
		if serr != nil || m.km.Transactional() && (runErr != nil || streaming || m.cut) {
			m.km.Abandon(fctx)
			continue
		}
		switch cut, err := m.finishBy(fctx, stopped, final[i], false); {
		case cut:
			m.km.Abandon(fctx)
		case err != nil:
			serr = err
		}
	}
	e.mu.Lock()
	e.stats.Late = int64(e.asm().Late())
	e.stats.Pending = e.asm().Pending() // before Close: its revoke forgets them
	if streaming {
		e.stats.Pending++
	}
	e.mu.Unlock()
	// Release every member's poll first, then leave together: one member
	// leaving rebalances the rest, whose callbacks must not be waiting on a
	// poll nobody will release.
	closers := make([]func(), len(ms))
	for i, m := range ms {
		m.km.AllowRebalance()
		closers[i] = m.km.Close
	}
	kafka.CloseWithin(kafka.CloseWait(e.cfg.SessionTimeout), e.cfg.Log, closers...)
	return serr
}
