package consumer

import (
	"context"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/wire"
)

// topicSink writes merged batches to the output topic: value
// {"batch_id":7,"data":[...]} keyed "7"; a batch too large for one record is
// split into records that add "chunk" and "last", as the input does.
type topicSink struct {
	p     *kafka.Producer
	topic string
	max   int
	id    int64
	chunk int64
	key   []byte
	data  []byte // the data array's contents so far, without brackets
}

// blockSlack is what a record takes beyond topicSink.max at most: a block
// of 256 values of up to 21 bytes each, and the JSON around the data.
const blockSlack = 8 << 10

// minRecordBytes is the least topicSink.max: an output topic whose limit
// leaves less is refused at the start.
const minRecordBytes = 1 << 10

func (t *topicSink) Begin(id int64) error {
	t.id, t.chunk = id, 0
	t.key = strconv.AppendInt(t.key[:0], id, 10)
	t.data = t.data[:0]
	return nil
}

func (t *topicSink) Write(vals []int64) error {
	// Blocks of 256 values keep the call cheap; a record may pass max by
	// one block (see blockSlack).
	for len(vals) > 0 {
		if len(t.data) >= t.max {
			t.emit(false)
		}
		n := min(256, len(vals))
		t.data = wire.AppendInts(t.data, vals[:n], len(t.data) == 0)
		vals = vals[n:]
	}
	return nil
}

func (t *topicSink) End() error { t.emit(true); return nil }

// emit sends what data holds as one record: the whole batch if it is the
// first and last, else chunk t.chunk.
func (t *topicSink) emit(last bool) {
	var v []byte
	if last && t.chunk == 0 {
		v = wire.AppendOutputStart(valueBuf(len(t.data)+48), t.id)
	} else {
		v = wire.AppendOutputChunkStart(valueBuf(len(t.data)+88), t.id, t.chunk, last)
	}
	v = append(v, t.data...)
	v = wire.AppendOutputEnd(v)
	t.p.ProduceThen(&kgo.Record{Topic: t.topic, Key: append([]byte(nil), t.key...), Value: v}, recycleValue)
	t.chunk++
	t.data = t.data[:0]
}

// Large record values are reused once the producer is done with them (see
// valueBuf): a batch of 100,000 integers makes a value of about 1 MiB, and
// a new one for every batch is memory the runtime must map and zero again.
var values sync.Pool // of *[]byte, each of pooledValue bytes or more

// pooledValue is the smallest value worth reusing.
const pooledValue = 64 << 10

// valueBuf returns an empty buffer with room for n bytes: a reused one
// when n is pooledValue or more and the one the pool gives holds from n
// to 4/3 of n bytes; one that does not fit is left to the collector. The
// client's buffer limit counts a record's bytes, not its capacity, so
// what it holds in flight may reach 4/3 of that limit. The pool holds at
// most the values of the records once in flight together.
func valueBuf(n int) []byte {
	if n >= pooledValue {
		if b, ok := values.Get().(*[]byte); ok && cap(*b) >= n && cap(*b) <= n/3*4 {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, n)
}

// recycleValue gives the value of a record the producer is done with back
// to valueBuf.
func recycleValue(r *kgo.Record) {
	if v := r.Value; cap(v) >= pooledValue {
		values.Put(&v)
	}
}

func (t *topicSink) Flush(ctx context.Context) error { return t.p.Flush(ctx) }
func (t *topicSink) Close() error                    { return nil } // the producer is closed by its owner
