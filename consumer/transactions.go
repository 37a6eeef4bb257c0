package consumer

import (
	"context"

	"github.com/segmerge/segmerge/consumer/internal/ledger"
	"github.com/segmerge/segmerge/internal/kafka"
)

// finish makes offs (the safe offsets of everything written, which sync has
// made durable) the group's committed offsets: a plain commit, or the end of
// the transaction that holds the output. An aborted transaction rolls the
// engine back to the last commit and is redone; only a fatal error, or five
// failures in a row, ends the run. With again, a new transaction begins.
func (m *member) finish(ctx context.Context, marks map[int32]ledger.Mark, again bool) error {
	e := m.e
	if !m.km.Transactional() {
		if m.km.Commit(ctx, e.commits(marks)) {
			e.mu.Lock()
			e.committed(marks)
			e.mu.Unlock()
		}
		return nil
	}
	committed, err := m.km.End(ctx, e.commits(marks), again)
	e.mu.Lock()
	if committed {
		e.committed(marks)
	} else {
		e.rollback()
	}
	e.mu.Unlock()
	return err
}

// finishBy is finish under kafka.Ending(base, stop): cut a grace after a
// stop. A cut end is not an error: it leaves its transaction to be aborted
// (m.cut, see Run), or its offsets uncommitted, for the next run to redo.
func (m *member) finishBy(base, stop context.Context, offs map[int32]ledger.Mark, again bool) (cut bool, err error) {
	ectx, release := kafka.Ending(base, stop, kafka.StopGrace(m.e.cfg.SessionTimeout))
	defer release()
	err = m.finish(ectx, offs, again)
	if kafka.WasCut(ectx, m.e.cfg.Log) {
		m.cut = true
		return true, nil
	}
	return false, err
}

// redo, after a streaming batch turned out broken, aborts the transaction
// (which rolls the engine back, and kgo's positions with it) and begins the
// next. Only a transactional member streams.
func (m *member) redo(ctx context.Context) error {
	err := m.km.Abort(ctx)
	m.e.mu.Lock()
	m.e.rollback()
	m.e.mu.Unlock()
	return err
}

// restart opens a new transactional session after a broker's fence (see
// kafka.Member.Restartable): everything since the last commit is rolled
// back and redone from the committed offsets.
func (m *member) restart() error {
	return m.km.Restart(func() {
		e := m.e
		e.mu.Lock()
		m.forget(m.ownedParts())
		e.rollback()
		e.mu.Unlock()
	})
}
