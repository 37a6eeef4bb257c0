package kafka

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// EndWatch tells when a group has read a topic up to the end offsets listed
// when it was made: what -e (exit at end) stops at. Safe for concurrent
// use.
type EndWatch struct {
	adm           *kadm.Client
	group, topic  string
	fromBeginning bool
	end, start    Offsets // read-only once made

	mu    sync.Mutex
	asked time.Time
}

// NewEndWatch lists topic's end and start offsets now. fromBeginning says
// how the group starts a partition it has no commit for: at its start (so
// that it is not done until committed), else at its end (done).
func NewEndWatch(ctx context.Context, adm *kadm.Client, group, topic string, fromBeginning bool) (*EndWatch, error) {
	w := &EndWatch{adm: adm, group: group, topic: topic, fromBeginning: fromBeginning}
	var err error
	if w.end, err = EndOffsets(ctx, adm, topic); err != nil {
		return nil, err
	}
	if w.start, err = StartOffsets(ctx, adm, topic); err != nil {
		return nil, err
	}
	return w, nil
}

// Limit is the offset at which reading partition p stops: its end offset
// at the start, 0 for a partition that did not exist then.
func (w *EndWatch) Limit(p int32) int64 { return w.end[p] }

// Partitions is every partition the topic had at the start.
func (w *EndWatch) Partitions() []int32 {
	ps := make([]int32, 0, len(w.end))
	for p := range w.end {
		ps = append(ps, p)
	}
	return ps
}

// Committed reports whether the group's commits have reached the end on
// every one of parts that had records at the start; it asks the broker at
// most every 200ms, and says false in between.
func (w *EndWatch) Committed(ctx context.Context, parts []int32, log *slog.Logger) bool {
	w.mu.Lock()
	if time.Since(w.asked) < 200*time.Millisecond {
		w.mu.Unlock()
		return false
	}
	w.asked = time.Now()
	w.mu.Unlock()
	committed, err := Committed(ctx, w.adm, w.group, w.topic, log)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("read the group's commits", "err", err)
		}
		return false
	}
	for _, p := range parts {
		end := w.end[p]
		if end <= w.start[p] {
			continue
		}
		off, ok := committed[p]
		if !ok && !w.fromBeginning {
			continue
		}
		if off < end {
			return false
		}
	}
	return true
}
