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
//
// A record's value is built in place: the data is appended to a buffer
// after room for the head, and the head, known only at the end (is the
// batch split?), is written into that room. The buffer goes out with the
// record and comes back to free once the client is done with it, so that
// a record of a megabyte is neither copied nor allocated anew each time.
type topicSink struct {
	p     *kafka.Producer
	topic string
	max   int
	id    int64
	chunk int64
	key   []byte
	buf   []byte // headRoom bytes, then the data array's contents so far
	free  sync.Pool
}

// headRoom is the room a record's buffer keeps for its head: the longest,
// {"batch_id":<20 digits>,"chunk":<20 digits>,"last":false,"data":[, is
// under 100 bytes.
const headRoom = 128

// blockSlack is what a record takes beyond topicSink.max at most: a block
// of 256 values of up to 21 bytes each, and the JSON around the data.
const blockSlack = 8 << 10

// minRecordBytes is the least topicSink.max: an output topic whose limit
// leaves less is refused at the start.
const minRecordBytes = 1 << 10

func (t *topicSink) Begin(id int64) error {
	t.id, t.chunk = id, 0
	t.key = strconv.AppendInt(t.key[:0], id, 10)
	t.fresh()
	return nil
}

// fresh gives t an empty buffer: the one it has if no record holds it,
// else a free one, else a new one.
func (t *topicSink) fresh() {
	if t.buf != nil {
		t.buf = t.buf[:headRoom]
		return
	}
	if b, ok := t.free.Get().(*[]byte); ok {
		t.buf = (*b)[:headRoom]
		return
	}
	t.buf = make([]byte, headRoom, headRoom+min(t.max+blockSlack, 64<<10))
}

func (t *topicSink) Write(vals []int64) error {
	// Blocks of 256 values keep the call cheap; a record may pass max by
	// one block (see blockSlack).
	for len(vals) > 0 {
		if len(t.buf)-headRoom >= t.max {
			t.emit(false)
		}
		n := min(256, len(vals))
		t.buf = wire.AppendInts(t.buf, vals[:n], len(t.buf) == headRoom)
		vals = vals[n:]
	}
	return nil
}

func (t *topicSink) End() error { t.emit(true); return nil }

// emit sends what the buffer holds as one record: the whole batch if it is
// the first and last, else chunk t.chunk.
func (t *topicSink) emit(last bool) {
	var head [headRoom]byte
	var h []byte
	if last && t.chunk == 0 {
		h = wire.AppendOutputStart(head[:0], t.id)
	} else {
		h = wire.AppendOutputChunkStart(head[:0], t.id, t.chunk, last)
	}
	start := headRoom - copy(t.buf[headRoom-len(h):headRoom], h)
	buf := wire.AppendOutputEnd(t.buf)
	t.buf = nil // the record's until the client is done with it
	t.p.ProduceThen(&kgo.Record{Topic: t.topic, Key: append([]byte(nil), t.key...), Value: buf[start:]}, func() {
		t.free.Put(&buf)
	})
	t.chunk++
	t.fresh()
}

func (t *topicSink) Flush(ctx context.Context) error { return t.p.Flush(ctx) }
func (t *topicSink) Close() error                    { return nil } // the producer is closed by its owner
