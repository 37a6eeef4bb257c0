package kafka

// This file is a transactional member's side: its transactions begun,
// ended (an empty one by the client alone), aborted, and its session
// restarted after a broker's fence; and how an outage is waited out.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Begin begins a transaction; a no-op for a member that is not
// transactional.
func (m *Member) Begin() error {
	if m.sess == nil {
		return nil
	}
	if err := m.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	m.begun = m.prod.Handed()
	return nil
}

// empty reports whether the open transaction holds nothing: no consumed
// offsets for the client to commit, no revoke or loss since the session
// last ended that marked it failed (a revoke of nothing does not), and no
// record handed to the producer since Begin or buffered in the client.
//
// The offsets are read first: kgo runs the revoke and loss callbacks,
// which note them, before it forgets the offsets of the partitions they
// take, so offsets found gone mean the note is there to be read. In the
// other order a rebalance between the reads could pass for no rebalance
// over no offsets, and the offsets consumed would be reported committed.
//
// Such a transaction is ended by the client alone (Client.EndTransaction:
// nothing to send). kgo's session End would hold its caller 500 ms: it
// waits that long after a commit unless a TxnOffsetCommit's answer showed
// a broker with KIP-447, and with no offsets it sends none. A run over an
// empty topic, or one its group has read to the end, ends only such
// transactions.
//
// A revoke noted between this check and the end leaves the session's mark
// in place: the next transaction that holds something aborts and is
// redone, as after any revoke, and nothing is lost.
func (m *Member) empty() bool {
	if len(m.cl.UncommittedOffsets()) > 0 || m.moved.Load() {
		return false
	}
	return m.prod.Handed() == m.begun && m.cl.BufferedProduceRecords() == 0
}

// sessEnd ends the session's transaction, trying try, and clears the note
// of a revoke first: one during the end may survive it in kgo's session,
// so it must survive in ours.
func (m *Member) sessEnd(ctx context.Context, try kgo.TransactionEndTry) (bool, error) {
	m.moved.Store(false)
	return m.sess.End(ctx, try)
}

// End commits the open transaction, with offsets (nil: those polled) as
// the group's committed offsets for Topic, and reports whether it
// committed. Not committed, the transaction was aborted (a rebalance, a
// broker that could not commit): the client is back at the last commit,
// and what the caller wrote since is the caller's to redo. End returns an
// error only when the run must end: a fatal error (see fatalEnd;
// Restartable tells a broker's fence), or five ends in a row that did not
// commit. It begins the next transaction when again.
func (m *Member) End(ctx context.Context, offsets map[int32]Commit, again bool) (committed bool, err error) {
	if offsets != nil {
		topic := m.cfg.Topic
		ctx = kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
			for i := range req.Topics {
				t := &req.Topics[i]
				if t.Topic != topic {
					continue
				}
				kept := t.Partitions[:0]
				for _, p := range t.Partitions {
					if o, ok := offsets[p.Partition]; ok {
						p.Offset, p.LeaderEpoch, p.Metadata = o.Offset, -1, metadata(o.Metadata)
						kept = append(kept, p)
					}
				}
				t.Partitions = kept
			}
			return nil
		})
	}
	before := m.trouble.Load()
	if m.empty() {
		err = m.cl.EndTransaction(ctx, kgo.TryCommit)
		committed = err == nil
	} else {
		committed, err = m.sessEnd(ctx, kgo.TryCommit)
	}
	if !committed && (errors.Is(err, kerr.UnknownTopicID) || errors.Is(err, kerr.UnknownTopicOrPartition)) {
		m.checked = time.Time{} // ask now
		if rerr := m.recreated(); rerr != nil {
			return false, errors.Join(rerr, m.settle(ctx))
		}
	}
	outage := false
	if err != nil && !committed && !fatalEnd(err) {
		if aerr := m.settle(ctx); aerr != nil {
			err = aerr
		} else if m.trouble.Load() > before {
			// The brokers could not be reached: not the transaction's
			// failure. Wait for them rather than spin aborting.
			outage = true
			if werr := m.awaitBrokers(ctx); werr != nil {
				err = werr
			}
		}
	}
	switch {
	case committed:
		m.failures, m.restarts = 0, 0
		m.troubleSeen = m.trouble.Load()
	case !outage:
		m.failures++
	}
	id := m.cfg.TransactionalID
	switch {
	case fatalEnd(err):
		return committed, fmt.Errorf("transaction %s: %w", id, Why(err, m.cl, "WRITE", "transactional-id", id))
	case !committed && m.failures >= 5:
		return false, fmt.Errorf("transaction %s aborted %d times in a row: %w", id, m.failures, err)
	case !committed && err != nil:
		m.cfg.Log.Warn("transaction aborted; redoing from the last commit", "err", err)
	case !committed:
		// A rebalance: routine when several processes share the group.
		m.cfg.Log.Info("transaction aborted by a rebalance; redoing from the last commit")
	}
	if !again {
		return committed, nil
	}
	if berr := m.Begin(); berr != nil {
		return committed, errors.Join(err, berr) // the end's error says why
	}
	return committed, nil
}

// settle makes sure no transaction is left open after an end that failed
// (a broker gone away can leave the commit unconfirmed, and the client
// still in the transaction): it aborts, again and again with a growing
// pause while the brokers cannot be reached, until the abort goes through
// or ctx ends. A broker outage is ridden out here, without reading on; the
// broker aborts the transaction itself at its timeout meanwhile. It returns
// an error only if the run must end: a fatal one, or ctx's.
func (m *Member) settle(ctx context.Context) error {
	return m.retry(ctx, 100*time.Millisecond, "cannot end the open transaction",
		"cannot end the open transaction; aborting it once the brokers answer (reading waits until then)",
		func() error {
			_, err := m.sessEnd(ctx, kgo.TryAbort)
			return err
		},
		func(err error) error {
			switch {
			case fatalEnd(err):
				return fmt.Errorf("transaction %s: %w", m.cfg.TransactionalID, err)
			case ctx.Err() != nil:
				return fmt.Errorf("abort the open transaction: %w", err)
			}
			return nil
		})
}

// awaitBrokers waits, with a growing pause, until a broker answers or ctx
// ends, saying so once each way.
func (m *Member) awaitBrokers(ctx context.Context) error {
	return m.retry(ctx, 250*time.Millisecond, "no broker answers",
		"no broker answers; waiting for them (what was not committed is redone)",
		func() error {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return m.cl.Ping(pctx)
		},
		func(error) error {
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for the brokers: %w", ctx.Err())
			}
			return nil
		})
}

// retry calls try until it succeeds, pausing first, then twice as long
// each time up to 2 s, unless fatal makes an error of its failure (the
// run must end) or ctx ends. It tells cfg.Stalled how the wait stands
// (what, with the error), and logs once, with warning, when the first try
// fails and once when the brokers answer again.
func (m *Member) retry(ctx context.Context, first time.Duration, what, warning string, try func() error, fatal func(error) error) error {
	since := time.Now()
	for wait, logged := first, false; ; wait = min(2*wait, 2*time.Second) {
		err := try()
		m.stalled(err, what)
		if err == nil {
			if logged {
				m.cfg.Log.Info("the brokers answer again; redoing from the last commit", "after", time.Since(since).Round(time.Second).String())
			}
			return nil
		}
		if ferr := fatal(err); ferr != nil {
			return ferr
		}
		if !logged {
			m.cfg.Log.Warn(warning, "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// stalled tells cfg.Stalled how a wait for the brokers stands: what, with
// err, or nothing once err is nil.
func (m *Member) stalled(err error, what string) {
	switch {
	case m.cfg.Stalled == nil:
	case err == nil:
		m.cfg.Stalled("")
	default:
		m.cfg.Stalled(fmt.Sprintf("%s: %v", what, err))
	}
}

// Failures is how many ends in a row did not commit.
func (m *Member) Failures() int { return m.failures }

// Abort aborts the open transaction and begins the next: the caller found
// what it wrote wrong and redoes it from the last commit.
func (m *Member) Abort(ctx context.Context) error {
	committed, err := m.sessEnd(ctx, kgo.TryAbort)
	switch {
	case err != nil:
		return fmt.Errorf("abort the open transaction: %w", err)
	case committed:
		return errors.New("abort the open transaction: it committed instead")
	}
	return m.Begin()
}

// Abandon aborts the open transaction, if any, at a stop that could not
// finish it. A failure is logged: the broker aborts the transaction at its
// timeout, or the next run's InitProducerID fences it sooner.
func (m *Member) Abandon(ctx context.Context) {
	if m.sess == nil {
		return
	}
	if _, err := m.sessEnd(ctx, kgo.TryAbort); err != nil {
		m.cfg.Log.Warn("abort the open transaction", "err", err)
	}
}

// Restartable reports whether a transactional member stopped by err should
// start a new session instead of ending the run: err is a fence, and the
// member met broker trouble since it last committed (see the package
// doc). Five restarts without a commit between them end the run.
func (m *Member) Restartable(err error) bool {
	return m.sess != nil && IsFence(err) && m.trouble.Load() > m.troubleSeen && m.restarts < 5
}

// Restart closes the member's session, leaving the group (its callbacks
// run), calls closed, and opens a new session, which initializes the
// producer id again (fencing the old session, as a restarted process
// would) and rejoins the group; it begins a transaction.
func (m *Member) Restart(closed func()) error {
	m.restarts++
	m.failures = 0
	m.cl.CloseAllowingRebalance()
	closed()
	if err := m.open(); err != nil {
		return err
	}
	// The trouble so far was this restart's reason (and the old client's
	// closing); only new trouble may excuse the next fence.
	m.troubleSeen = m.trouble.Load()
	m.prod.Reset(m.cl)
	return m.Begin()
}
