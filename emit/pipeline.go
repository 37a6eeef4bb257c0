package emit

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/sink"
)

// groupInts is what a group of small batches is filled up to.
const groupInts = 32 << 10

// outputBytes is what a group's output is counted per integer: 8 bytes of
// merged value and about 12 of rendered line.
const outputBytes = 20

// maxRate bounds the bytes of line per 16 integers that a group's line
// buffers are first made for (see merge): 24 a value, more than any
// integer's rendering and its separator.
const maxRate = 16 * 24

// group is consecutive batches merged and written together.
type group struct {
	bs    []*assemble.Batch
	ints  int
	bytes int      // counted against max
	vals  []int64  // merged values, batch after batch (if a sink takes values)
	cuts  []int    // end of each batch's values in vals
	lines [][]byte // per format: the batches' lines back to back
	ends  [][]int  // per format: end of each batch's line
	err   error
	done  bool // merged and rendered
}

// Pipeline merges held batches on every core and writes them in the order
// handed over (see the package doc). Its owner starts it with NewPipeline
// and ends it with Close.
type Pipeline struct {
	sinks   []sink.Sink   // what to write to, sink.Multi flattened
	format  []int         // per sink: index in formats of its LineFormat, or -1: it takes values
	formats []sink.Format // the distinct formats of the LineSinks
	values  bool          // some sink takes values
	max     int           // bytes handed over and not written, at most
	written func(*assemble.Batch)

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*group // handed over and not written, in order
	taken  int      // queue[:taken] are taken by workers (or done)
	queued int      // bytes in queue
	merged []*assemble.Batch
	free   []*group
	err    error
	closed bool
	wg     sync.WaitGroup
}

// NewPipeline starts a pipeline writing to s, holding at most maxBytes of
// batches handed over and not yet written, with a merge worker per core.
// written, if not nil, is told of each batch once its writer has written
// it, on the writer's goroutine.
func NewPipeline(s sink.Sink, maxBytes int, written func(*assemble.Batch)) *Pipeline {
	p := &Pipeline{max: max(maxBytes, 1), written: written}
	p.cond = sync.NewCond(&p.mu)
	p.sinks = flatten(s)
	for _, s := range p.sinks {
		ls, ok := s.(sink.LineSink)
		if !ok {
			p.format = append(p.format, -1)
			p.values = true
			continue
		}
		f := ls.LineFormat()
		i := 0
		for i < len(p.formats) && p.formats[i] != f {
			i++
		}
		if i == len(p.formats) {
			p.formats = append(p.formats, f)
		}
		p.format = append(p.format, i)
	}
	for range runtime.GOMAXPROCS(0) {
		p.wg.Go(p.work)
	}
	p.wg.Go(p.write)
	return p
}

func flatten(s sink.Sink) []sink.Sink {
	m, ok := s.(sink.Multi)
	if !ok {
		return []sink.Sink{s}
	}
	var out []sink.Sink
	for _, s := range m {
		out = append(out, flatten(s)...)
	}
	return out
}

// Submit hands bs over, in order, a piece of about four groups at a time,
// blocking while too much is queued; between pieces it passes the batches
// merged meanwhile to merged (if not nil), so that their records' memory
// can go before the whole of bs is handed over. It returns an earlier
// merge's or write's error, if any.
func (p *Pipeline) Submit(bs []*assemble.Batch, merged func(*assemble.Batch)) error {
	var reaped []*assemble.Batch
	for len(bs) > 0 {
		k, ints := 0, 0
		for k < len(bs) && (k == 0 || ints < 4*groupInts) {
			ints += bs[k].Len()
			k++
		}
		if err := p.submit(bs[:k]); err != nil {
			return err
		}
		if merged != nil {
			reaped = p.Reap(reaped[:0])
			for _, b := range reaped {
				merged(b)
			}
			clear(reaped)
		}
		bs = bs[k:]
	}
	return nil
}

// submit hands bs over, in order, blocking while too much is queued.
func (p *Pipeline) submit(bs []*assemble.Batch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(bs) > 0 {
		g := p.newGroup()
		for len(bs) > 0 && (g.ints == 0 || g.ints+bs[0].Len() <= groupInts) {
			g.bs = append(g.bs, bs[0])
			g.ints += bs[0].Len()
			g.bytes += bs[0].Bytes() + outputBytes*bs[0].Len()
			bs = bs[1:]
		}
		for p.err == nil && p.queued > 0 && p.queued+g.bytes > p.max {
			p.cond.Wait()
		}
		if p.err != nil {
			return p.err
		}
		p.queue = append(p.queue, g)
		p.queued += g.bytes
		p.cond.Broadcast()
	}
	return nil
}

// Reap returns the batches merged since the last Reap, appended to dst.
func (p *Pipeline) Reap(dst []*assemble.Batch) []*assemble.Batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	dst = append(dst, p.merged...)
	clear(p.merged)
	p.merged = p.merged[:0]
	return dst
}

// Drain waits until everything handed over is written, and returns the
// first error.
func (p *Pipeline) Drain() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 {
		p.cond.Wait()
	}
	return p.err
}

// Close drains and stops the workers and the writer.
func (p *Pipeline) Close() error {
	err := p.Drain()
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// work merges and renders groups, the next not taken first, until closed.
func (p *Pipeline) work() {
	var d Scratch
	rate := make([]int, len(p.formats)) // see merge
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.taken == len(p.queue) && !p.closed {
			p.cond.Wait()
		}
		if p.taken == len(p.queue) {
			return
		}
		g := p.queue[p.taken]
		p.taken++
		p.mu.Unlock()
		g.err = p.merge(&d, g, rate)
		p.mu.Lock()
		g.done = true
		p.merged = append(p.merged, g.bs...)
		p.cond.Broadcast()
	}
}

// merge merges every batch of g, and renders its lines. rate is, per
// format, the bytes of line per 16 integers in the worker's last group
// that had integers (batch heads counted in, which small batches make
// large), at most maxRate: each line buffer is made about that large at
// once, as a poll's many new groups would otherwise grow theirs by
// doubling, copying each byte twice over. The bound keeps a group of
// empty batches, all heads, from sizing the next group's buffers by them.
func (p *Pipeline) merge(d *Scratch, g *group, rate []int) error {
	if d.vals == nil {
		d.vals = make([]int64, 4096)
	}
	for f := range p.formats {
		if want := g.ints*rate[f]/16 + 64*len(g.bs); cap(g.lines[f]) < want {
			g.lines[f] = slices.Grow(g.lines[f][:0], want)
		}
	}
	defer func() {
		for f := range p.formats {
			if g.ints > 0 {
				rate[f] = min(16*len(g.lines[f])/g.ints+1, maxRate)
			}
		}
	}()
	for _, b := range g.bs {
		d.start(b)
		for f, format := range p.formats {
			g.lines[f] = format.AppendStart(g.lines[f], b.ID)
		}
		var out []int64 // the batch's place in g.vals, when a sink takes values
		if p.values {
			g.vals = slices.Grow(g.vals, b.Len())
			out = g.vals[len(g.vals) : len(g.vals)+b.Len()]
		}
		if lo, counts, ok := d.counts(p.values); ok {
			// Counted, not merged: rendered from the counts.
			for f, format := range p.formats {
				g.lines[f] = format.AppendCounted(g.lines[f], lo, counts, true)
			}
		} else if whole := d.fill(out); whole != nil {
			// Merged at once (Packed.Fill); rendered piece by piece.
			for n := 0; n < len(whole); n += len(d.vals) {
				piece := whole[n:min(n+len(d.vals), len(whole))]
				for f, format := range p.formats {
					g.lines[f] = format.AppendValues(g.lines[f], piece, n == 0)
				}
			}
			if p.values {
				out = out[:len(whole)]
			}
		} else if err := p.read(d, b, g, out); err != nil {
			return err
		}
		g.vals = g.vals[:len(g.vals)+len(out)]
		for f, format := range p.formats {
			g.lines[f] = format.AppendEnd(g.lines[f])
			g.ends[f] = append(g.ends[f], len(g.lines[f]))
		}
		g.cuts = append(g.cuts, len(g.vals))
	}
	return nil
}

// read merges b piece by piece through d's merge, rendering each piece, and
// into out when a sink takes values.
func (p *Pipeline) read(d *Scratch, b *assemble.Batch, g *group, out []int64) error {
	for n, first := 0, true; ; {
		// Merge piece by piece, small enough to stay in cache while it
		// is rendered.
		buf := d.vals
		if p.values {
			buf = out[n:min(n+len(d.vals), len(out))]
		}
		k, err := d.read(buf)
		if err == io.EOF {
			return nil
		}
		if err == nil && k == 0 {
			err = errors.New("more values than its records hold") // out is full
		}
		if err != nil {
			return fmt.Errorf("merge batch %d: %w", b.ID, err)
		}
		for f, format := range p.formats {
			g.lines[f] = format.AppendValues(g.lines[f], buf[:k], first)
		}
		first = false
		n += k
	}
}

// write writes the groups in order as they are done, until closed.
func (p *Pipeline) write() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for len(p.queue) == 0 || !p.queue[0].done {
			if p.closed && len(p.queue) == 0 {
				return
			}
			p.cond.Wait()
		}
		g := p.queue[0]
		err := p.err
		p.mu.Unlock()
		if err == nil { // after a failure nothing more is written
			err = g.err
			if err == nil {
				err = p.put(g)
			}
		}
		p.mu.Lock()
		if err != nil && p.err == nil {
			p.err = err
		}
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.taken--
		p.queued -= g.bytes
		p.recycle(g)
		if p.err == nil && (len(p.queue) == 0 || !p.queue[0].done) {
			// Nothing more to write yet: what the sinks buffer goes
			// out now, so a reader sees these batches while the
			// pipeline waits, not at the next flush. Under p.mu, so
			// that Drain returns only after it.
			p.err = p.push()
		}
		p.cond.Broadcast()
	}
}

// push pushes every sink that can (sink.Pusher).
func (p *Pipeline) push() error {
	for _, s := range p.sinks {
		if ps, ok := s.(sink.Pusher); ok {
			if err := ps.Push(); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
		}
	}
	return nil
}

// put writes g's batches to every sink, batch by batch.
func (p *Pipeline) put(g *group) error {
	vstart, lstart := 0, make([]int, len(p.formats))
	for i, b := range g.bs {
		for k, s := range p.sinks {
			var err error
			if f := p.format[k]; f >= 0 {
				err = s.(sink.LineSink).WriteLine(b.ID, g.lines[f][lstart[f]:g.ends[f][i]])
			} else {
				err = s.Begin(b.ID)
				if err == nil {
					err = s.Write(g.vals[vstart:g.cuts[i]])
				}
				if err == nil {
					err = s.End()
				}
			}
			if err != nil {
				return fmt.Errorf("write batch %d: %w", b.ID, err)
			}
		}
		if p.written != nil {
			p.written(b)
		}
		vstart = g.cuts[i]
		for f := range lstart {
			lstart[f] = g.ends[f][i]
		}
	}
	return nil
}

// newGroup returns an empty group, reusing a written one's memory. It runs
// under p.mu.
func (p *Pipeline) newGroup() *group {
	if n := len(p.free); n > 0 {
		g := p.free[n-1]
		p.free = p.free[:n-1]
		return g
	}
	return &group{lines: make([][]byte, len(p.formats)), ends: make([][]int, len(p.formats))}
}

// recycle keeps g's memory for a later group, unless enough is kept or g
// grew large (one large batch's line is not worth keeping). It runs under
// p.mu.
func (p *Pipeline) recycle(g *group) {
	const keepGroups, keepBytes = 8, 4 << 20
	size := 8 * cap(g.vals)
	for _, l := range g.lines {
		size += cap(l)
	}
	if len(p.free) >= keepGroups || size > keepBytes {
		return
	}
	clear(g.bs)
	g.bs, g.vals, g.cuts = g.bs[:0], g.vals[:0], g.cuts[:0]
	for f := range g.lines {
		g.lines[f], g.ends[f] = g.lines[f][:0], g.ends[f][:0]
	}
	g.ints, g.bytes, g.err, g.done = 0, 0, nil, false
	p.free = append(p.free, g)
}
