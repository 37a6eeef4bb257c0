package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/wire"
)

// producer is the client that writes the output topic and the dead-letter
// topic, with one sticky delivery error: a record that fails is never
// followed by a commit. reset hands it a new client (a new transactional
// session) and forgets the old client's failures, including those its
// records report as it closes.
type producer struct {
	mu     sync.Mutex
	cl     *kgo.Client
	gen    int // counts resets; a record's callback reports only into its own
	failed error
}

func (p *producer) produce(r *kgo.Record) {
	p.mu.Lock()
	cl, gen := p.cl, p.gen
	p.mu.Unlock()
	cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		// ErrAborting: the transaction holding the record was aborted
		// on purpose, and the core rolled back with it.
		if err == nil || errors.Is(err, kgo.ErrAborting) {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.failed == nil && p.gen == gen {
			p.failed = fmt.Errorf("deliver to %s: %w", r.Topic, err)
		}
	})
}

// flush waits until every record produced so far is delivered.
func (p *producer) flush(ctx context.Context) error {
	p.mu.Lock()
	cl := p.cl
	p.mu.Unlock()
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// reset makes cl the client records go to, with no failure yet.
func (p *producer) reset(cl *kgo.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cl, p.failed = cl, nil
	p.gen++
}

// topicSink writes merged batches to the output topic: value
// {"batch_id":7,"data":[...]} keyed "7"; a batch too large for one record is
// split into records that add "chunk" and "last", as the input does.
type topicSink struct {
	p     *producer
	topic string
	max   int
	id    int64
	chunk int64
	key   []byte
	data  []byte // the data array's contents so far, without brackets
}

func (t *topicSink) Begin(id int64) error {
	t.id, t.chunk = id, 0
	t.key = strconv.AppendInt(t.key[:0], id, 10)
	t.data = t.data[:0]
	return nil
}

func (t *topicSink) Write(vals []int64) error {
	// Blocks of 256 values keep the call cheap; a record may pass max by
	// one block (at most ~5 KiB), well inside the broker's limit.
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
	t.p.produce(&kgo.Record{Topic: t.topic, Key: append([]byte(nil), t.key...), Value: v})
	t.chunk++
	t.data = t.data[:0]
}

func (t *topicSink) Flush(ctx context.Context) error { return t.p.flush(ctx) }
func (t *topicSink) Close() error                    { return nil } // the producer is closed by its owner

// Dead-letter headers: why a record was refused and where it came from.
const (
	HeaderReason = "segmerge.reason" // a stable code (wire or assemble Reason*)
	HeaderError  = "segmerge.error"  // the human message
	HeaderSource = "segmerge.source" // topic/partition@offset
	// HeaderGroup names the consumer group that refused the record: every
	// group reading a topic dead-letters its bad records on its own.
	HeaderGroup = "segmerge.group"
)

// deadLetters forwards refused records, unchanged, to <topic>.dlq; it
// creates the topic on first use.
type deadLetters struct {
	p       *producer
	adm     *kadm.Client
	log     *slog.Logger
	group   string
	topic   string
	parts   int32
	ensured bool
}

func (d *deadLetters) send(ctx context.Context, r *kgo.Record, reason, msg string) error {
	if !d.ensured {
		if _, _, err := kafka.EnsureTopic(ctx, d.adm, d.log, d.topic, d.parts, false); err != nil {
			return fmt.Errorf("dead-letter topic: %w", err)
		}
		d.ensured = true
	}
	src := fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)
	d.log.Warn("bad record", "source", src, "reason", reason, "err", msg)
	d.p.produce(&kgo.Record{
		Topic: d.topic,
		Key:   r.Key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
			kgo.RecordHeader{Key: HeaderReason, Value: []byte(reason)},
			kgo.RecordHeader{Key: HeaderError, Value: []byte(msg)},
			kgo.RecordHeader{Key: HeaderSource, Value: []byte(src)},
			kgo.RecordHeader{Key: HeaderGroup, Value: []byte(d.group)},
		),
	})
	return nil
}
