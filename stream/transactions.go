package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
)

// endBy ends the open transaction under kafka.Ending (see package
// repartition's): a stop cuts it a grace after (r.cut: Run aborts it).
// With again, a new transaction begins.
func (r *run) endBy(base, stop context.Context, again bool) error {
	cut, err := r.m.EndBy(base, stop, func(ctx context.Context) error { return r.end(ctx, again) })
	r.cut = r.cut || cut
	return err
}

// end commits what was written and dead-lettered with the offsets of the
// first records not yet given out, and the state a restart needs in their
// metadata. An abort rebuilds the core from the last commit.
func (r *run) end(ctx context.Context, again bool) error {
	var offsets map[int32]kafka.Commit
	if r.core != nil {
		meta := commitMeta{topicID: r.topicID, isStream: true}
		if r.file != nil {
			size, err := r.file.sync()
			if err != nil {
				return err
			}
			meta.file, meta.hasFile = size, true
		}
		st := r.core.State()
		meta.last, meta.hasLast = st.Last, st.HasLast
		offsets = make(map[int32]kafka.Commit, len(st.Parts))
		for p, ps := range st.Parts {
			if ps.Next < 0 {
				continue
			}
			pm := meta
			pm.prev, pm.hasPrev = ps.Prev, ps.HasPrev
			offsets[int32(p)] = kafka.Commit{Offset: ps.Next, Metadata: pm.String()}
		}
	}
	if err := r.m.Producer().Flush(ctx); err != nil {
		return fmt.Errorf("flush %s: %w", r.cfg.OutputTopic, err)
	}
	committed, err := r.m.End(ctx, offsets, again)
	r.ended = time.Now()
	m := r.cfg.Metrics
	if committed {
		r.dirty = false
		r.st.Records += r.open.Records
		r.st.Late += r.open.Late
		r.st.Unsorted += r.open.Unsorted
		r.st.Bad += r.open.Bad
		m.Committed.Add(1)
		for reason, n := range r.bad {
			m.DeadLetter(reason, n)
		}
		r.open = Stats{}
		clear(r.bad)
		return err
	}
	r.st.Aborted++
	m.Aborted.Add(1)
	if err == nil && again {
		r.rebuild.Store(false)
		err = r.restore(ctx, true)
	}
	return err
}

// shut commits the last transaction (aborts it after an error or a cut
// end) and leaves the group, each within its bound.
func (r *run) shut(stopped context.Context, runErr error) error {
	return r.m.Shut(stopped, runErr, func() bool { return r.cut }, func(fctx, stopped context.Context) error {
		return r.endBy(fctx, stopped, false)
	})
}

// onePartition writes the stream's output topic to one partition, and
// every other topic (the dead letters) by Kafka's default key hash.
type onePartition struct {
	topic     string
	partition int32
}

func (o onePartition) ForTopic(t string) kgo.TopicPartitioner {
	if t == o.topic {
		return fixed(o.partition)
	}
	return kgo.StickyKeyPartitioner(nil).ForTopic(t)
}

type fixed int32

func (fixed) RequiresConsistency(*kgo.Record) bool { return true }
func (f fixed) Partition(_ *kgo.Record, n int) int { return min(int(f), n-1) }
