package consumer

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/consumer/internal/ledger"
	"github.com/segmerge/segmerge/internal/kafka"
)

// member is one group member of a run: its client, the partitions it owns,
// its loop.
type member struct {
	e        *engine
	km       *kafka.Member
	owned    map[int32]bool // guarded by e.mu
	paused   map[int32]bool // partitions paused for memory; guarded by e.mu
	parallel bool           // decode each poll's partitions in parallel
	cut      bool           // a stop cut off ending a transaction (see kafka.Ending)
}

// join creates the member's client, which joins the group in the
// background; the first takes Config.MemberOpts.
func (e *engine) join(first bool) (*member, error) {
	cfg := e.cfg
	m := &member{e: e, owned: map[int32]bool{}, paused: map[int32]bool{}, parallel: cfg.Mode == ModeConcurrent}
	gc := kafka.GroupConfig{
		Cluster:        cfg.cluster(),
		Group:          cfg.Group,
		Topic:          cfg.Topic,
		TopicID:        e.topicID,
		FromBeginning:  cfg.FromBeginning,
		SessionTimeout: cfg.SessionTimeout,
		FetchBytes:     e.lim.FetchBytes,
		PartitionBytes: e.lim.PartitionBytes,
		FitRecords:     kafka.FetchRecords,
		Assigned:       m.assigned,
		Revoked:        m.revoked,
		Lost:           m.lost,
		Stalled:        cfg.Metrics.Stalled,
		Log:            cfg.Log,
	}
	if cfg.transactional() {
		gc.TransactionalID = cfg.txnID()
		gc.TransactionTimeout = cfg.TransactionTimeout
		gc.ProduceBuffer = e.lim.Produce
		gc.Limits = &e.limits
		gc.KeyedTopics = []string{cfg.OutputTopic}
	}
	if first {
		gc.Cluster.Opts = append(append([]kgo.Opt(nil), gc.Cluster.Opts...), cfg.MemberOpts...)
	}
	km, err := kafka.Join(gc)
	if err != nil {
		return nil, err
	}
	m.km = km
	return m, nil
}

// unanswered is how long no request may be answered before the run says
// the brokers are out of reach (its readiness check fails): a member's
// client asks several times a second while they are up.
const unanswered = 5 * time.Second

// loop polls and processes until ctx is done or the run's end is reached.
func (m *member) loop(ctx context.Context) error {
	e := m.e
	// Polls end after a short wait even when nothing arrives, so that an
	// idle consumer still flushes, commits, and sees -e's end.
	wait := min(e.cfg.CommitInterval, 250*time.Millisecond)
	// A stop (Ctrl+C) cancels ctx, which ends the poll; work already
	// begun (a flush, the end of a transaction) runs to its end under
	// work instead of failing half done: a transaction cut off inside End
	// stays open, and must not be mistaken for an abort.
	work := context.WithoutCancel(ctx)
	for {
		fs, stop, err := m.km.Poll(ctx, wait)
		if stop || err != nil {
			m.km.AllowRebalance()
			return err
		}
		e.cfg.Metrics.Polled()
		e.cfg.Metrics.Unanswered(m.km.Unanswered(unanswered))
		var dec *decoding
		if m.parallel {
			dec = e.decodeParallel(fs)
		}
		e.mu.Lock()
		offs, err := m.process(work, fs, dec)
		redo := errors.Is(err, errRedo)
		pause, resume := e.pauses(m.owned, m.paused)
		m.setPaused(pause, resume)
		e.gauges()
		e.mu.Unlock()
		m.km.AllowRebalance()
		if redo {
			if err := m.redo(work); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		// Commit outside e.mu: a commit waits out a rebalance, and the
		// rebalance waits for other members' callbacks, which take e.mu.
		if offs != nil {
			if cut, err := m.finishBy(work, ctx, offs, true); cut || err != nil {
				return err
			}
		}
		if done, err := m.ended(ctx, work); done || err != nil {
			return err
		}
	}
}

// ended reports whether the run's end is reached: Count batches written,
// or with -e every partition read to the end offsets of the start. It
// judges after the commit, for an aborted transaction has rolled the
// position back; in transactional mode it ends the last transaction here,
// where an abort can be redone.
func (m *member) ended(ctx, work context.Context) (bool, error) {
	e := m.e
	e.mu.Lock()
	done := e.countReached(0)
	ours, others := e.atEnd()
	stuck := e.noteUnassigned()
	streaming := e.streamB != nil
	e.mu.Unlock()
	if stuck && e.cfg.Layout == LayoutSegment {
		// A member that died while joining can stay in the group with
		// partitions and no session timer (the embedded broker, kfake:
		// internal/upstream/kfake-join-death); a rebalance drops it, as
		// it never joins again. Only the group's leader can ask for one.
		e.cfg.Log.Info("asking the group to rebalance: another member holds partitions this segment-layout process needs", "group", e.cfg.Group)
		m.km.Client().ForceRebalance()
	}
	if !done && !(ours && m.othersAtEnd(ctx, others)) {
		return false, nil
	}
	if !m.km.Transactional() || streaming {
		// Run commits the last offsets (a batch still streaming: Run
		// aborts its transaction).
		return true, nil
	}
	e.mu.Lock()
	marks, err := e.commitPoint(work, m)
	e.mu.Unlock()
	if err != nil {
		return true, err
	}
	if cut, err := m.finishBy(work, ctx, marks, true); cut || err != nil {
		return true, err
	}
	return m.km.Failures() == 0, nil
}

// othersAtEnd reports whether the partitions not assigned in this process
// are done by the group's commits. Another process of the group, or a
// rebalance in flight here, may own them; only their commits say they are
// finished.
func (m *member) othersAtEnd(ctx context.Context, others []int32) bool {
	return len(others) == 0 || m.e.end.Committed(ctx, others, m.e.cfg.Log)
}

// process adds one poll's records, releases and writes what is ready, and
// every CommitInterval syncs and returns the offsets to commit. It runs
// under e.mu. With dec (the poll's records decoded in parallel), it adds
// each partition's records as soon as they are decoded.
func (m *member) process(ctx context.Context, fs kgo.Fetches, dec *decoding) (map[int32]ledger.Mark, error) {
	e := m.e
	if dec != nil {
		defer dec.wait()
	}
	i := 0
	var err error
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || len(fp.Records) == 0 {
			return
		}
		if dec != nil {
			err = e.add(ctx, &fp.FetchPartition, dec.get(i))
			i++
			return
		}
		err = e.take(ctx, &fp.FetchPartition)
	})
	if err != nil {
		return nil, err
	}
	if err := e.release(ctx); err != nil {
		return nil, err
	}
	switch {
	case m.km.Transactional() && e.streamB != nil && !e.begun:
		// A streaming batch waits for a transaction of its own:
		// commit the batches before it now.
	case m.km.Transactional() && e.streamB != nil:
		return nil, nil // never commit part of a batch
	case time.Since(e.synced) < e.cfg.CommitInterval:
		return nil, nil
	}
	marks, err := e.commitPoint(ctx, m)
	if err == nil && !e.led.Dirty() && e.led.Unchanged(marks) {
		// Nothing since the last commit: an idle consumer does not
		// end a transaction (or commit offsets) every interval.
		return nil, nil
	}
	return marks, err
}

// offsets returns the safe marks of the partitions m owns, or of those in
// parts if parts is not nil. The caller holds e.mu.
func (m *member) offsets(parts []int32) map[int32]ledger.Mark {
	if parts == nil {
		return m.e.led.Commits(func(p int32) bool { return m.owned[p] })
	}
	return m.e.led.Commits(func(p int32) bool { return m.owned[p] && slices.Contains(parts, p) })
}

// assigned adds newly assigned partitions, positioned at the group's
// committed offsets (else the reset offset), and notes which are caught up.
func (m *member) assigned(ctx context.Context, parts []int32) {
	e := m.e
	if len(parts) == 0 {
		return
	}
	starts, err := m.positions(ctx, parts)
	if err != nil {
		e.cfg.Log.Error("read positions of assigned partitions", "err", err)
		// Unknown positions: not caught up, offsets unknown; the first
		// fetch of each partition sets them.
		starts = map[int32]assemble.Start{}
		for _, p := range parts {
			starts[p] = assemble.Start{Next: -1}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range parts {
		m.owned[p] = true
	}
	e.led.Assign(starts)
	e.cfg.Metrics.Rebalances.Add(1)
	e.cfg.Metrics.Joined(true, e.led.Assigned())
	e.cfg.Log.Debug("assigned", "partitions", parts)
}

// positions returns where each of parts starts: the group's committed
// offset, else the start or end of the log (a fresh start).
func (m *member) positions(ctx context.Context, parts []int32) (map[int32]assemble.Start, error) {
	cfg, adm := m.e.cfg, m.e.adm
	committed, err := kafka.Commits(ctx, adm, cfg.Group, cfg.Topic, cfg.Log)
	if err != nil {
		return nil, err
	}
	ends, err := kafka.EndOffsets(ctx, adm, cfg.Topic)
	if err != nil {
		return nil, err
	}
	logStarts, err := kafka.StartOffsets(ctx, adm, cfg.Topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]assemble.Start{}
	for _, p := range parts {
		c, ok := committed[p]
		off := c.Offset
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
		st := assemble.Start{Next: off, CaughtUp: off >= ends[p], Fresh: fresh}
		if !reset {
			meta := parseMeta(c.Metadata)
			st.Floor, st.HasFloor = meta.floor, meta.hasFloor
		}
		out[p] = st
	}
	return out, nil
}

// revoked commits what is written for the partitions being taken away, then
// forgets their pending records.
func (m *member) revoked(ctx context.Context, parts []int32) {
	e := m.e
	if m.km.Transactional() {
		// The session aborts the open transaction at its End, and the
		// rollback then starts over from the committed offsets.
		m.lost(ctx, parts)
		return
	}
	e.mu.Lock()
	var marks map[int32]ledger.Mark
	if all, err := e.commitPoint(ctx, m); err != nil {
		e.cfg.Log.Error("flush before giving up partitions", "err", err)
	} else {
		marks = map[int32]ledger.Mark{}
		for _, p := range parts {
			if mk, ok := all[p]; ok {
				marks[p] = mk
			}
		}
	}
	m.forget(parts)
	e.mu.Unlock()
	m.km.Commit(ctx, e.commits(marks))
}

// lost forgets partitions taken away without a chance to commit.
func (m *member) lost(_ context.Context, parts []int32) {
	m.e.mu.Lock()
	defer m.e.mu.Unlock()
	m.forget(parts)
}

// forget drops parts from m and the ledger. The caller holds e.mu.
func (m *member) forget(parts []int32) {
	var resume []int32
	for _, p := range parts {
		delete(m.owned, p)
		if m.paused[p] {
			resume = append(resume, p) // not paused for its next owner here
		}
	}
	m.setPaused(nil, resume)
	m.e.led.Revoke(parts)
	if len(parts) > 0 {
		m.e.cfg.Metrics.Rebalances.Add(1)
		m.e.cfg.Metrics.DropLag(m.e.cfg.Topic, parts...)
		m.e.cfg.Metrics.Joined(true, m.e.led.Assigned())
	}
}

// setPaused pauses and resumes fetching partitions of the topic. The caller
// holds e.mu.
func (m *member) setPaused(pause, resume []int32) {
	topic, cl := m.e.cfg.Topic, m.km.Client()
	if len(pause) > 0 {
		cl.PauseFetchPartitions(map[string][]int32{topic: pause})
		for _, p := range pause {
			m.paused[p] = true
		}
	}
	if len(resume) > 0 {
		cl.ResumeFetchPartitions(map[string][]int32{topic: resume})
		for _, p := range resume {
			delete(m.paused, p)
		}
	}
	m.e.paused.Add(int64(len(pause) - len(resume)))
}

// ownedParts lists the partitions m owns. The caller holds e.mu.
func (m *member) ownedParts() []int32 { return slices.Collect(maps.Keys(m.owned)) }
