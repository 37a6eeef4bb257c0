package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer writes a stage's records (its output, its dead letters) through
// a client it does not own, with one sticky delivery error: a record that
// fails is never followed by a commit, because Flush returns the failure
// until Reset. Reset hands it a new client (a new transactional session)
// and forgets the old client's failures, including those its records
// report as it closes.
type Producer struct {
	mu     sync.Mutex
	cl     *kgo.Client
	gen    int // counts resets; a record's callback reports only into its own
	failed error
	handed atomic.Int64 // records handed to a client, ever
}

// NewProducer returns a Producer writing through cl.
func NewProducer(cl *kgo.Client) *Producer { return &Producer{cl: cl} }

// Produce hands r to the client; it blocks while the client's buffer is
// full.
func (p *Producer) Produce(r *kgo.Record) { p.ProduceThen(r, nil) }

// ProduceThen is Produce, and calls done (if not nil) with r once the
// client is finished with it, delivered or not: r's memory may then be
// reused.
func (p *Producer) ProduceThen(r *kgo.Record, done func(*kgo.Record)) {
	p.mu.Lock()
	cl, gen := p.cl, p.gen
	p.mu.Unlock()
	p.handed.Add(1)
	cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if done != nil {
			defer done(r)
		}
		// ErrAborting: the transaction holding the record was aborted
		// on purpose, and its owner rolled back with it.
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

// Flush waits until every record produced so far is delivered, and
// returns the first delivery error since the last Reset.
func (p *Producer) Flush(ctx context.Context) error {
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

// Handed counts the records handed to a client, ever: unchanged between
// two reads, nothing was produced between them.
func (p *Producer) Handed() int64 { return p.handed.Load() }

// Reset makes cl the client records go to, with no failure yet.
func (p *Producer) Reset(cl *kgo.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cl, p.failed = cl, nil
	p.gen++
}
