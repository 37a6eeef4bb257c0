package consumer

import (
	"context"
	"strconv"

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
		v = wire.AppendOutputStart(make([]byte, 0, len(t.data)+48), t.id)
	} else {
		v = wire.AppendOutputChunkStart(make([]byte, 0, len(t.data)+64), t.id, t.chunk, last)
	}
	v = append(v, t.data...)
	v = wire.AppendOutputEnd(v)
	t.p.Produce(&kgo.Record{Topic: t.topic, Key: append([]byte(nil), t.key...), Value: v})
	t.chunk++
	t.data = t.data[:0]
}

func (t *topicSink) Flush(ctx context.Context) error { return t.p.Flush(ctx) }
func (t *topicSink) Close() error                    { return nil } // the producer is closed by its owner
