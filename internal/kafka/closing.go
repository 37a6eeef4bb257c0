package kafka

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ErrCut is the cause of an Ending context cut by a stop.
var ErrCut = errors.New("stopped while ending a transaction")

// Ending returns the context that ending a transaction (or committing
// offsets) runs under once begun: base, not cut short by a stop (stop's
// end), so that an end in flight completes rather than leave its
// transaction undecided; but cut grace after the stop, with cause ErrCut,
// so that a stop never waits a whole rebalance for it. An end cut off
// would mostly have aborted anyway, the group's generation having changed;
// either way the next run redoes it. The returned func releases the
// context.
func Ending(base, stop context.Context, grace time.Duration) (context.Context, func()) {
	ectx, cancel := context.WithCancelCause(base)
	unregister := context.AfterFunc(stop, func() {
		t := time.AfterFunc(grace, func() { cancel(ErrCut) })
		context.AfterFunc(ectx, func() { t.Stop() })
	})
	return ectx, func() { unregister(); cancel(nil) }
}

// WasCut reports whether Ending's context ectx was cut by a stop, and says
// so on log.
func WasCut(ectx context.Context, log *slog.Logger) bool {
	if context.Cause(ectx) != ErrCut {
		return false
	}
	log.Warn("stopped while committing waited on a group rebalance; the next run redoes what was not committed")
	return true
}

// CloseWithin runs closers at once and waits for them, at most d. A client
// leaving its group waits for a JoinGroup it has in flight, which the
// coordinator answers only once every member rejoined or the rebalance
// timeout passed. Past d it returns, logging that, with the closes still
// running: the group then drops this member after the session timeout, as
// it would a crashed one, and what was committed stays so.
func CloseWithin(d time.Duration, log *slog.Logger, closers ...func()) {
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
		log.Warn("leaving the group is held up by a rebalance; not waiting for it (the group drops this member after its session timeout)", "waited", d.String())
	}
}

// EndBy runs end, which ends a stage's open transaction, under
// Ending(base, stop): a stop cuts it a grace (StopGrace) after. A cut end
// is not an error: cut says so, and its transaction is left for Shut to
// abort and the next run to redo.
func (m *Member) EndBy(base, stop context.Context, end func(context.Context) error) (cut bool, err error) {
	ectx, release := Ending(base, stop, StopGrace(m.cfg.SessionTimeout))
	defer release()
	err = end(ectx)
	if WasCut(ectx, m.cfg.Log) {
		return true, nil
	}
	return false, err
}

// Shut ends a stage's run, each step within its bound: unless the run
// failed or was cut, end commits the last transaction (given 30s after the
// stop); a failed or cut run's transaction is abandoned; then the member
// leaves its group within CloseWait. cut is read after end, which may cut.
func (m *Member) Shut(stopped context.Context, runErr error, cut func() bool, end func(fctx, stopped context.Context) error) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(stopped), 30*time.Second)
	defer cancel()
	if runErr == nil && !cut() {
		runErr = end(fctx, stopped)
	}
	if runErr != nil || cut() {
		m.Abandon(fctx)
	}
	m.AllowRebalance()
	CloseWithin(CloseWait(m.cfg.SessionTimeout), m.cfg.Log, m.Close)
	return runErr
}
