// Package verify checks a consumer's output against the producer's input
// log (or the producer's data regenerated from its spec, see Generated),
// trusting nothing the consumer says: every batch that is complete in the
// input must appear exactly once, equal to the sorted union of its segments;
// batches must be in ascending order (in a file; per partition in a topic),
// unless Config.Unordered; nothing else may appear. Input that expects no
// batch is an error, not a pass: nothing checked proves nothing.
//
// The input log may be one a producer is writing, or one a producer killed
// as it wrote left: it is read as it stands when verify opens it, and a
// partial last line is ignored (see Report.Partial).
//
// A batch is compared by its length and a fingerprint of its sorted values,
// so the output side streams: an output file is read through a fixed buffer
// (see fileBuffer), a line of any length fingerprinted as it goes by, and a
// topic a record at a time. The input side holds the input log's data in
// memory until it is read whole (fine for the demo and tests; a log larger
// than memory is not supported yet); input regenerated from a spec streams.
package verify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/setting"
	"github.com/segmerge/segmerge/merge"
	"github.com/segmerge/segmerge/wire"
)

// Config says what to check.
type Config struct {
	InputLog string // the producer's --input-log, or
	// Generated, instead of InputLog, regenerates the input from the
	// producer's spec (see Generated).
	Generated *Generated
	// Segments is the segment count of input batches whose records do
	// not say; default 10.
	Segments int64
	OutFile  string // a JSON Lines output file, or
	Brokers  []string
	// ClientOpts are franz-go options the topic's reader takes after
	// segmerge's own: TLS, SASL, tunables.
	ClientOpts []kgo.Opt
	Topic      string // an output topic, read with read_committed
	// Unordered checks exactly once without any order between batches:
	// for output written by several processes into a topic that does not
	// keep each input partition's batches in one output partition (one
	// created with another partition count), or files concatenated.
	Unordered bool
}

// print is the length and fingerprint (FNV-1a over the values) of a
// batch's sorted values. It is a wire.DataFolder, so an output line is
// fingerprinted as it is read.
type print struct {
	n    int64
	hash uint64
}

// Add folds ascending values into p.
func (p *print) Add(vals []int64) {
	for _, v := range vals {
		p.hash = (p.hash ^ uint64(v)) * 1099511628211
	}
	p.n += int64(len(vals))
}

// Reset makes p the print of no values.
func (p *print) Reset() { *p = newPrint() }

func newPrint() print { return print{hash: 14695981039346656037} }

// mergedPrint reads m to its end through buf and returns the fingerprint of
// the merged run.
func mergedPrint(m *merge.Merger, buf []int64) (print, error) {
	p := newPrint()
	for {
		n, err := m.Read(buf)
		p.Add(buf[:n])
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return p, err
		}
	}
}

// Run verifies and returns the report; an error means the check could not
// be made, not that it failed: unreadable files, broker trouble, a file
// that is not what Config says it is (see ErrTextFormat and ErrSwapped),
// or input that expects no batch.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Segments <= 0 {
		cfg.Segments = 10
	}
	if (cfg.OutFile == "") == (cfg.Topic == "") {
		return nil, setting.Invalid("OutFile", cfg.OutFile, "give exactly one of {OutFile} and {Topic}")
	}
	var (
		in  expectation
		err error
	)
	if cfg.Generated != nil {
		in.want, err = generated(ctx, cfg.Generated)
	} else {
		in, err = expected(cfg.InputLog, cfg.Segments, cfg.OutFile)
	}
	if err == nil && len(in.want) == 0 {
		err = nothingExpected(cfg, in)
	}
	if err != nil {
		return nil, err
	}
	want := in.want
	c := &checker{want: want, seen: map[int64]int{}, last: map[int32]int64{}, unordered: cfg.Unordered}
	c.rep.Expected, c.rep.Incomplete, c.rep.Partial = int64(len(want)), in.incomplete, in.partial
	if cfg.OutFile != "" {
		err = c.file(cfg.OutFile)
	} else {
		err = c.topic(ctx, kafka.Cluster{Brokers: cfg.Brokers, Opts: cfg.ClientOpts}, cfg.Topic)
	}
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(want))
	for id := range want {
		if c.seen[id] == 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		c.probs.add(kindMissing, id, "missing from the output")
	}
	c.rep.Problems = c.probs.sorted()
	return &c.rep, nil
}

// nothingExpected returns the error for input that expects no batch: a
// check of nothing against nothing passes whatever the output holds, so
// it is no pass. An empty input log is most often the wrong file, or a
// producer run without --input-log (or killed before it logged a batch).
func nothingExpected(cfg Config, in expectation) error {
	const nothing = "nothing to verify"
	switch {
	case cfg.Generated != nil:
		return fmt.Errorf("the generated input holds no batch: %s", nothing)
	case in.incomplete > 0:
		return fmt.Errorf("input log %s holds no complete batch (%s): %s",
			cfg.InputLog, plural(in.incomplete, "incomplete batch", "incomplete batches"), nothing)
	case in.partial > 0:
		return fmt.Errorf("input log %s holds no batch, only a partial line (%s): %s",
			cfg.InputLog, plural(in.partial, "byte", "bytes"), nothing)
	}
	if cfg.OutFile != "" {
		if st, err := os.Stat(cfg.OutFile); err == nil && st.Size() == 0 {
			return fmt.Errorf("input log %s and output file %s are both empty: %s (nothing expected and nothing found is no pass)",
				cfg.InputLog, cfg.OutFile, nothing)
		}
	}
	return fmt.Errorf("input log %s is empty: %s", cfg.InputLog, nothing)
}

// expectation is what the input side expects.
type expectation struct {
	want       map[int64]print // the fingerprint of every complete batch
	incomplete int64           // batches not complete
	partial    int64           // length of a partial last line, ignored
}

// expected reads the input log and returns what it expects.
//
// A producer may be writing the log as it is read, or may have been
// killed as it wrote. The log is read up to its size when it is opened,
// not what is appended later; its last line then, if no newline ends it,
// is taken when it decodes as a record (only its newline is missing) and
// ignored, its length noted in partial, when it does not. Any other line
// that does not decode is an error, which says so if the line is an
// output record, and that the two files look swapped if outFile's first
// line is an input record.
func expected(path string, defSegs int64, outFile string) (expectation, error) {
	f, err := os.Open(path)
	if err != nil {
		return expectation{}, fmt.Errorf("read input log: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		r = io.LimitReader(f, st.Size())
	}
	type seg struct {
		chunks map[int64][]int64
		last   int64
	}
	type batch struct {
		segs []seg
	}
	batches := map[int64]*batch{}
	var dec wire.Decoder
	var s wire.Segment
	var in expectation
	unended := false // the line just scanned has no newline
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		n, tok, err := bufio.ScanLines(data, atEOF)
		unended = tok != nil && n == len(data) && data[n-1] != '\n'
		return n, tok, err
	})
	for line := 1; sc.Scan(); line++ {
		if err := dec.Decode(sc.Bytes(), &s); err != nil {
			if unended {
				in.partial = int64(len(sc.Bytes()))
				break
			}
			return expectation{}, badInputLine(path, line, sc.Bytes(), err, outFile)
		}
		n := s.Segments
		if n == 0 {
			n = defSegs
		}
		b := batches[s.BatchID]
		if b == nil {
			b = &batch{segs: make([]seg, n)}
			for i := range b.segs {
				b.segs[i] = seg{chunks: map[int64][]int64{}, last: -1}
			}
			batches[s.BatchID] = b
		}
		if s.SegmentID >= int64(len(b.segs)) {
			return expectation{}, fmt.Errorf("input log %s line %d: segment %d outside batch %d of %d segments", path, line, s.SegmentID, s.BatchID, len(b.segs))
		}
		sg := &b.segs[s.SegmentID]
		sg.chunks[s.Chunk] = slices.Clone(s.Data)
		if s.Last {
			sg.last = s.Chunk
		}
	}
	if err := sc.Err(); err != nil {
		return expectation{}, fmt.Errorf("read input log: %w", err)
	}
	in.want = map[int64]print{}
	var m merge.Merger
	buf := make([]int64, 4096)
next:
	for id, b := range batches {
		runs := make([]merge.Source, 0, len(b.segs))
		for _, sg := range b.segs {
			if sg.last < 0 || int64(len(sg.chunks)) != sg.last+1 {
				in.incomplete++
				continue next
			}
			run := []int64{}
			for c := int64(0); c <= sg.last; c++ {
				run = append(run, sg.chunks[c]...)
			}
			runs = append(runs, merge.SliceSource(run))
		}
		m.Reset(runs...)
		p, err := mergedPrint(&m, buf)
		if err != nil {
			return expectation{}, fmt.Errorf("input batch %d: %w", id, err)
		}
		in.want[id] = p
	}
	return in, nil
}

type checker struct {
	want      map[int64]print
	seen      map[int64]int
	last      map[int32]int64 // highest batch id seen per output partition (a file is partition 0)
	unordered bool            // do not check last
	rep       Report
	probs     problems
}

// batch checks one whole output batch found at where.
func (c *checker) batch(part int32, id int64, got print, where string) {
	c.seen[id]++
	last, ok := c.last[part]
	if ok && id <= last && c.seen[id] == 1 && !c.unordered { // a repeat is reported as one below
		c.probs.add(kindOrder, id, "%s: comes after batch %d (not ascending)", where, last)
	}
	if !ok || id > last {
		c.last[part] = id
	}
	w, ok := c.want[id]
	switch {
	case !ok:
		c.probs.add(kindForeign, id, "%s: not a complete batch of the input log", where)
	case c.seen[id] > 1:
		c.probs.add(kindRepeat, id, "%s: appears %d times", where, c.seen[id])
	case w != got:
		c.probs.add(kindDiffer, id, "%s: %s (fingerprint %016x) where the input gives %d (%016x)",
			where, plural(got.n, "integer", "integers"), got.hash, w.n, w.hash)
	default:
		c.rep.Batches++
		c.rep.Integers += got.n
	}
}

// fileBuffer is the size of the buffer an output file is read through. A
// line of any length streams through it: checking a file takes this, a
// few KiB more, and the maps of batch ids, however large its batches.
const fileBuffer = 256 << 10

// file checks an output file, one batch a line, fingerprinting each line's
// data as it reads it.
func (c *checker) file(path string) error {
	if err := checkOutputFile(path); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read output file: %w", err)
	}
	defer f.Close()
	sc := wire.NewOutputScanner(f, fileBuffer)
	for {
		p := newPrint()
		s, err := sc.Scan(&p)
		if err == io.EOF {
			return nil
		}
		where := fmt.Sprintf("%s line %d", path, sc.Line())
		var bad *wire.Error
		if errors.As(err, &bad) {
			c.probs.add("line "+kind(bad.Reason), -1, "%s: %v", where, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("read output file: %w", err)
		}
		c.batch(0, s.BatchID, p, where)
	}
}

// topic reads the output topic from start to end with read_committed, and
// joins chunk records (which share a key, hence a partition) into batches.
func (c *checker) topic(ctx context.Context, cluster kafka.Cluster, topic string) error {
	admCl, err := cluster.Client()
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	if _, err := kafka.Partitions(ctx, adm, topic); errors.Is(err, kerr.UnknownTopicOrPartition) {
		return &noTopic{topic}
	} else if err != nil {
		return fmt.Errorf("output topic: %w", err)
	}
	ends, err := kafka.EndOffsets(ctx, adm, topic)
	if err != nil {
		return err
	}
	want := map[int32]kgo.Offset{}
	for p, end := range ends {
		if end > 0 {
			want[p] = kgo.NewOffset().AtStart()
		}
	}
	if len(want) == 0 {
		return nil
	}
	cl, err := cluster.Client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers take offsets: seeing them lets the read
		// reach the end offsets exactly instead of waiting for silence.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	j := joiner{c: c, partial: map[int32]*open{}}
	pos := map[int32]int64{}
	done := func() bool {
		for p := range want {
			if pos[p] < ends[p] {
				return false
			}
		}
		return true
	}
	for !done() {
		// An open transaction at the end never becomes readable: when
		// nothing arrives for a while, what is readable has been read.
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fs.NumRecords() == 0 && pctx.Err() != nil {
			break
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = err
			}
		})
		if ferr != nil {
			return fmt.Errorf("read output topic %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				j.add(r)
			}
		})
	}
	for _, o := range j.partial {
		c.probs.add(kindChunks, o.id, "output topic ends inside the batch (after chunk %d)", o.chunk)
	}
	return nil
}

// noTopic is the error for an output topic that does not exist. It is a
// kerr.UnknownTopicOrPartition, said plainly.
type noTopic struct{ topic string }

func (e *noTopic) Error() string { return fmt.Sprintf("output topic %s does not exist", e.topic) }

func (e *noTopic) Unwrap() error { return kerr.UnknownTopicOrPartition }

// joiner joins an output topic's chunk records into batches, a partition
// at a time.
type joiner struct {
	c       *checker
	partial map[int32]*open // the batch each partition is in the middle of
	dec     wire.Decoder
	s       wire.Segment
}

// open is a batch whose chunks are being joined.
type open struct {
	id    int64
	chunk int64
	p     print
	prev  int64
}

// add takes the next record of its partition.
func (j *joiner) add(r *kgo.Record) {
	c, s := j.c, &j.s
	where := kafka.Source(r)
	if err := j.dec.DecodeOutput(r.Value, s); err != nil {
		var bad *wire.Error
		errors.As(err, &bad) // DecodeOutput returns only *wire.Error values
		c.probs.add("record "+kind(bad.Reason), -1, "%s: %v", where, err)
		return
	}
	o := j.partial[r.Partition]
	if s.Chunk == 0 && s.Last { // the usual: a whole batch
		if o != nil {
			c.probs.add(kindChunks, o.id, "%s: chunk %d is followed by another batch", where, o.chunk)
			delete(j.partial, r.Partition)
		}
		p := newPrint()
		p.Add(s.Data)
		c.batch(r.Partition, s.BatchID, p, where)
		return
	}
	if o == nil {
		if s.Chunk != 0 {
			c.probs.add(kindChunks, s.BatchID, "%s: chunk %d without chunk 0", where, s.Chunk)
			return
		}
		o = &open{id: s.BatchID, p: newPrint(), chunk: -1}
		j.partial[r.Partition] = o
	}
	if s.BatchID != o.id || s.Chunk != o.chunk+1 {
		c.probs.add(kindChunks, o.id, "%s: batch %d chunk %d breaks batch %d after chunk %d", where, s.BatchID, s.Chunk, o.id, o.chunk)
		delete(j.partial, r.Partition)
		return
	}
	if len(s.Data) > 0 && o.p.n > 0 && s.Data[0] < o.prev {
		c.probs.add(kindChunks, o.id, "%s: chunk %d is not ascending from the chunk before", where, s.Chunk)
	}
	o.p.Add(s.Data)
	if len(s.Data) > 0 {
		o.prev = s.Data[len(s.Data)-1]
	}
	o.chunk = s.Chunk
	if s.Last {
		c.batch(r.Partition, o.id, o.p, where)
		delete(j.partial, r.Partition)
	}
}
