package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/setting"
	"github.com/segmerge/segmerge/metrics"
	"github.com/segmerge/segmerge/stream/internal/order"
)

// Stats is what a stream run did.
type Stats struct {
	Records  int64 // records written and committed
	Late     int64 // late records dead-lettered and committed
	Unsorted int64 // unsorted records dead-lettered and committed
	Bad      int64 // records whose key could not be read, dead-lettered and committed
	Aborted  int64 // transactions aborted (and redone)
	Elapsed  time.Duration
}

// recordOverhead is what a queued record costs beyond its key, value and
// headers: kgo's Record and the queue's entry.
const recordOverhead = 256

// Run runs the stream (see the package doc) until ctx is done or, with
// ExitAtEnd, every partition has reached the end offset read at start and
// all before it is committed; it then commits the last transaction and
// leaves the group. Cancelling ctx is a clean stop, not an error.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = new(metrics.Run)
	}
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	if cfg.TransactionalID == "" {
		cfg.TransactionalID = "segmerge-stream-" + cfg.Group + "-" + cfg.Topic + "-" + kafka.Instance()
	}
	start := time.Now()
	cluster := kafka.Cluster{Brokers: cfg.Brokers, Opts: cfg.ClientOpts}
	adm, closeAdm, parts, err := kafka.Input(ctx, cluster, cfg.Log, cfg.Topic, cfg.ExitAtEnd)
	if err != nil || parts == 0 {
		return Stats{}, err
	}
	defer closeAdm()
	r := &run{cfg: &cfg, adm: adm, parts: parts, outPart: max(cfg.OutputPartition, 0)}
	if r.topicID, err = kafka.TopicID(ctx, adm, cfg.Topic); err != nil {
		return Stats{}, err
	}
	if cfg.ExitAtEnd {
		if r.ends, err = kafka.EndOffsets(ctx, adm, cfg.Topic); err != nil {
			return Stats{}, err
		}
	}
	inputMax, err := kafka.MaxMessageBytes(ctx, adm, cfg.Topic)
	if err != nil {
		return Stats{}, err
	}
	if err := r.output(ctx, inputMax); err != nil {
		return Stats{}, err
	}
	if r.file != nil {
		defer r.file.close()
	}
	lim := budget.Split(cfg.Memory, parts)
	r.held = int64(lim.Held)
	member := kafka.Cluster{Brokers: cfg.Brokers, Opts: append(append(append([]kgo.Opt(nil), cfg.ClientOpts...), cfg.MemberOpts...),
		kgo.Balancers(oneOwner{}))}
	if r.m, err = kafka.Join(kafka.GroupConfig{
		Cluster: member, Group: cfg.Group, Topic: cfg.Topic, TopicID: r.topicID,
		Assigned: r.assignedParts, Revoked: r.lostParts, Lost: r.lostParts, Stalled: cfg.Metrics.Stalled,
		FromBeginning: cfg.FromBeginning, SessionTimeout: cfg.SessionTimeout,
		FetchBytes: lim.FetchBytes, PartitionBytes: lim.PartitionBytes, FitRecords: kafka.FetchRecords,
		TransactionalID: cfg.TransactionalID, TransactionTimeout: cfg.TransactionTimeout,
		ProduceBuffer: lim.Produce, Limits: &r.limits,
		Partitioner: onePartition{topic: cfg.OutputTopic, partition: r.outPart}, Log: cfg.Log,
	}); err != nil {
		return Stats{}, err
	}
	r.dlq = kafka.NewDeadLetters(r.m.Producer(), adm, cfg.Log, cfg.Group, cfg.Topic, parts, inputMax, &r.limits)
	to := cfg.OutFile
	if cfg.OutputTopic != "" {
		to = fmt.Sprintf("%s partition %d", cfg.OutputTopic, r.outPart)
	}
	cfg.Log.Info("streaming in key order", "topic", cfg.Topic, "by", cfg.By, "into", to, "group", cfg.Group,
		"partitions", parts, "idle_timeout", idleString(cfg.IdleTimeout), "transactional_id", cfg.TransactionalID)
	runErr := r.loop(ctx)
	runErr = r.shut(ctx, runErr)
	r.st.Elapsed = time.Since(start)
	return r.st, kafka.Explain(runErr, "TransactionalID", cfg.TransactionalID)
}

func idleString(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	return d.String()
}

// output makes sure of where the stream writes: the output topic, created
// with one partition if missing, or the file.
func (r *run) output(ctx context.Context, inputMax int) error {
	cfg := r.cfg
	if cfg.OutFile != "" {
		f, err := openFile(cfg.OutFile)
		if err != nil {
			return fmt.Errorf("open %s: %w", cfg.OutFile, err)
		}
		r.file = f
		return nil
	}
	n, _, err := kafka.EnsureTopicWith(ctx, r.adm, cfg.Log, cfg.OutputTopic, 1, kafka.Copied(inputMax), false)
	switch {
	case err != nil:
		return err
	case cfg.OutputPartition < 0 && n > 1:
		return setting.Invalid("OutputTopic", cfg.OutputTopic,
			"has %d partitions, and one ordered stream is written to one: name the one to write with {OutputPartition}, or give a topic with one partition", n)
	case cfg.OutputPartition >= n:
		return setting.Invalid("OutputPartition", cfg.OutputPartition, "{OutputTopic} %s has %d partitions", cfg.OutputTopic, n)
	}
	_, err = r.limits.Learn(ctx, r.adm, cfg.OutputTopic)
	return err
}

// run is one run of the stream.
type run struct {
	cfg  *Config
	m    *kafka.Member
	adm  *kadm.Client
	dlq  *kafka.DeadLetters
	file *outFile // OutFile only
	// fileChecked: the file was found to hold only what the group
	// committed to it.
	fileChecked bool
	parts       int32
	outPart     int32
	topicID     string
	ends        kafka.Offsets // ExitAtEnd: the end offsets read at start
	limits      kafka.Limits
	held        int64 // the budget's share for queued records

	// core orders the records; nil while this member holds no partition.
	core *order.Merger
	// first is, for each partition with no commit, the first offset
	// queued since the core was rebuilt: where a rollback reads again.
	first map[int32]int64

	// Set by the group's callbacks (kgo's goroutines), read by the loop.
	rebuild  atomic.Bool  // the assignment changed: rebuild the core
	assigned atomic.Int64 // partitions held
	standby  atomic.Bool  // the last rebalance left this member nothing

	st      Stats
	open    Stats // what the open transaction holds
	dirty   bool  // something to commit since the last end
	ended   time.Time
	cut     bool // a stop cut off ending a transaction (see kafka.Ending)
	asked   time.Time
	said    bool // the standby line was logged for this assignment
	scratch []int32
	pause   []int32
	resume  []int32
	bad     map[string]int64 // dead letters in the open transaction, by reason
}

// badRecord is a record whose key could not be read, on its way to the
// dead letters.
type badRecord struct {
	r      *kgo.Record
	reason string
	msg    string
}

// assignedParts and lostParts keep count of the partitions held: the
// balancer is cooperative, so a rebalance tells of those added and those
// taken away, and one that moves nothing tells of none. A change makes
// the loop rebuild its state from the commits; no change must not, as
// the client reads on from where it is, past the commits.
func (r *run) assignedParts(_ context.Context, parts []int32) {
	held := r.assigned.Add(int64(len(parts)))
	r.standby.Store(held == 0)
	if len(parts) > 0 {
		r.rebuild.Store(true)
	}
	r.cfg.Metrics.Rebalances.Add(1)
	r.cfg.Metrics.Joined(true, int(held))
}

func (r *run) lostParts(_ context.Context, parts []int32) {
	held := r.assigned.Add(-int64(len(parts)))
	if len(parts) > 0 {
		r.rebuild.Store(true)
	}
	r.cfg.Metrics.Rebalances.Add(1)
	r.cfg.Metrics.Joined(true, int(held))
}

// loop runs loopOnce, and again in a new session after a broker's fence.
func (r *run) loop(ctx context.Context) error {
	if err := r.m.Begin(); err != nil {
		return err
	}
	for {
		err := r.loopOnce(ctx)
		if err == nil || ctx.Err() != nil || !r.m.Restartable(err) {
			return err
		}
		r.cfg.Log.Warn("the broker fenced this stream's transaction after it restarted (it aborts what was open); starting a new transactional session from the last commit",
			"transactional_id", r.cfg.TransactionalID, "err", err)
		if err := r.m.Restart(func() { r.core = nil; r.open = Stats{}; clear(r.bad) }); err != nil {
			return err
		}
	}
}

// loopOnce polls, orders and writes, in the transaction begun, until ctx
// is done, the end (ExitAtEnd), or an error.
func (r *run) loopOnce(ctx context.Context) error {
	r.ended = time.Now()
	wait := min(r.cfg.CommitInterval, 100*time.Millisecond)
	// A stop cancels ctx, which ends the poll; a transaction being ended
	// runs to its end under work.
	work := context.WithoutCancel(ctx)
	for {
		fs, stop, err := r.m.Poll(ctx, wait)
		if stop || err != nil {
			r.m.AllowRebalance()
			return err
		}
		r.cfg.Metrics.Polled()
		if r.rebuild.Swap(false) {
			err = r.restore(work, false)
		}
		if err == nil && r.core != nil {
			fs.EachPartition(func(fp kgo.FetchTopicPartition) {
				if fp.Topic == r.cfg.Topic {
					r.take(&fp.FetchPartition)
				}
			})
			err = r.emit(work)
			r.askEnds(work)
			r.pauses()
		}
		if err == nil && r.dirty && (time.Since(r.ended) >= r.cfg.CommitInterval || r.drained()) {
			err = r.endBy(work, ctx, true)
		}
		// Rebalances wait for this point: between transactions, or with
		// records of the open one that an abort would redo.
		r.m.AllowRebalance()
		if err != nil || r.cut {
			return err
		}
		if r.drained() && !r.dirty {
			return nil
		}
		r.noteStandby()
	}
}

// drained reports whether, with ExitAtEnd, every partition has reached its
// end and nothing is queued.
func (r *run) drained() bool {
	if r.ends == nil || r.core == nil {
		return false
	}
	for p := range r.parts {
		if !r.core.Closed(p) || r.core.Queued(p) > 0 {
			return false
		}
	}
	return true
}

// noteStandby says, once an assignment, that this member holds nothing
// and waits to take over.
func (r *run) noteStandby() {
	switch {
	case !r.standby.Load():
		r.said = false
		r.cfg.Metrics.Waiting("")
	case !r.said:
		r.said = true
		why := fmt.Sprintf("standby: another member of group %s holds every partition of %s (one ordered stream has one writer); this member takes over when it leaves or fails", r.cfg.Group, r.cfg.Topic)
		r.cfg.Log.Info(why)
		r.cfg.Metrics.Waiting(why)
	}
}

// restore rebuilds the core from the group's committed offsets and their
// metadata (see commit.go) and cuts the output file back to its committed
// length. With no partition held, the core is dropped. After an
// assignment the client fetches from the same offsets already; with
// rewind (after an abort) restore points the fetches of partitions with
// no commit back at the first record queued since the last rebuild, as
// kgo rewinds only partitions with a commit.
func (r *run) restore(ctx context.Context, rewind bool) error {
	cl := r.m.Client()
	if r.assigned.Load() == 0 {
		r.core = nil
		return nil
	}
	cs, err := kafka.Commits(ctx, r.adm, r.cfg.Group, r.cfg.Topic, r.cfg.Log)
	if err != nil {
		return err
	}
	st := order.State{Parts: make([]order.PartState, r.parts)}
	var fileLen int64
	fileKnown := false
	for p := range st.Parts {
		st.Parts[p].Next = -1
	}
	for p, c := range cs {
		if p < 0 || p >= r.parts {
			continue
		}
		m := parseMeta(c.Metadata)
		if m.topicID != "" && r.topicID != "" && m.topicID != r.topicID {
			return &kafka.RecreatedError{Topic: r.cfg.Topic, Group: r.cfg.Group, Was: m.topicID, Now: r.topicID}
		}
		st.Parts[p] = order.PartState{Next: c.Offset, Prev: m.prev, HasPrev: m.hasPrev}
		if m.hasLast && (!st.HasLast || st.Last.Less(m.last)) {
			st.Last, st.HasLast = m.last, true
		}
		if m.hasFile {
			fileLen, fileKnown = max(fileLen, m.file), true
		}
	}
	var starts kafka.Offsets
	for p := range st.Parts {
		if st.Parts[p].Next >= 0 {
			continue
		}
		if off, ok := r.first[int32(p)]; ok && rewind {
			st.Parts[p].Next = off
			continue
		}
		if r.cfg.FromBeginning {
			if starts == nil {
				if starts, err = kafka.StartOffsets(ctx, r.adm, r.cfg.Topic); err != nil {
					return err
				}
			}
			st.Parts[p].Next = starts[int32(p)]
		}
	}
	if r.file != nil {
		if !fileKnown && !r.fileChecked && r.file.size > 0 {
			return fmt.Errorf("%s holds %d bytes that group %s has not committed to it: remove it, or give another file or group", r.cfg.OutFile, r.file.size, r.cfg.Group)
		}
		r.fileChecked = true
		if err := r.file.cut(fileLen); err != nil {
			return err
		}
	}
	r.core = order.New(order.Config{Partitions: r.parts, Idle: r.cfg.IdleTimeout, MaxBytes: r.held, UnknownAtEnd: !r.cfg.FromBeginning}, st, time.Now())
	set := map[int32]kgo.EpochOffset{}
	all := make([]int32, 0, r.parts)
	for p, ps := range st.Parts {
		all = append(all, int32(p))
		if _, ok := r.first[int32(p)]; ok && rewind && ps.Next >= 0 {
			set[int32(p)] = kgo.EpochOffset{Epoch: -1, Offset: ps.Next}
		}
		if r.ends != nil && (ps.Next >= r.ends[int32(p)] || ps.Next < 0 && !r.cfg.FromBeginning) {
			r.core.Close(int32(p))
		}
	}
	r.first = map[int32]int64{}
	if len(set) > 0 {
		// SetOffsets between a poll and the handling of its records would
		// have kgo fetch them again and not count them as polled: only
		// here, after an end and before the next poll.
		cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{r.cfg.Topic: set})
	}
	cl.ResumeFetchPartitions(map[string][]int32{r.cfg.Topic: all})
	r.cfg.Metrics.PausedPartitions.Store(0)
	r.open = Stats{}
	clear(r.bad)
	r.dirty = false
	if r.said || r.st.Records > 0 || len(cs) > 0 {
		r.cfg.Log.Info("holding every partition: the stream resumes from the group's commits", "partitions", r.parts, "committed", len(cs), "last", lastString(st))
	}
	return nil
}

func lastString(st order.State) string {
	if !st.HasLast {
		return "none"
	}
	return st.Last.String()
}

// take queues the records of one fetched partition.
func (r *run) take(fp *kgo.FetchPartition) {
	p := fp.Partition
	if p < 0 || p >= r.parts {
		return
	}
	now := time.Now()
	limit := int64(-1)
	if r.ends != nil {
		limit = r.ends[p]
	}
	n := int64(0)
	for _, rec := range fp.Records {
		if limit >= 0 && rec.Offset >= limit {
			break
		}
		n++
		if rec.Attrs.IsControl() {
			r.core.Skip(p, rec.Offset+1)
			continue
		}
		if r.core.Position(p) < 0 {
			if _, ok := r.first[p]; !ok {
				r.first[p] = rec.Offset
			}
		}
		e := order.Entry{Pos: order.Pos{Partition: p, Offset: rec.Offset}, Size: recordOverhead + len(rec.Key) + len(rec.Value), Item: rec}
		for _, h := range rec.Headers {
			e.Size += len(h.Key) + len(h.Value)
		}
		if r.cfg.By == ByTimestamp {
			e.Key = rec.Timestamp.UnixMilli()
		} else if key, err := fieldKey(rec.Value, r.cfg.field()); err == nil {
			e.Key = key
		} else {
			var ke *keyError
			errors.As(err, &ke)
			e.Verdict, e.Item = order.Invalid, &badRecord{r: rec, reason: ke.reason, msg: ke.msg}
		}
		r.core.Push(e, now)
	}
	if n > 0 {
		r.dirty = true
	}
	if end := fp.HighWatermark; fp.Err == nil && end >= 0 {
		if fp.LastStableOffset >= 0 && fp.LastStableOffset < end {
			end = fp.LastStableOffset
		}
		r.core.SetEnd(p, end)
		if next := r.core.Position(p); next >= 0 {
			r.cfg.Metrics.SetLag(r.cfg.Topic, p, max(end-next, 0))
		}
	}
	if limit >= 0 && r.core.Position(p) >= limit {
		r.core.Close(p)
	}
	r.cfg.Metrics.Records.Add(n)
}

// emit writes what the core gives out, and sends what it rejects to the
// dead letters.
func (r *run) emit(ctx context.Context) error {
	now := time.Now()
	for {
		e, ok := r.core.Next(now)
		if !ok {
			r.cfg.Metrics.HeldBytes.Store(r.core.Bytes())
			return nil
		}
		r.dirty = true
		if e.Verdict == order.OK {
			if err := r.write(e.Item.(*kgo.Record)); err != nil {
				return err
			}
			r.open.Records++
			continue
		}
		var (
			rec         *kgo.Record
			reason, msg string
		)
		switch e.Verdict {
		case order.Late:
			rec, reason = e.Item.(*kgo.Record), ReasonLate
			msg = fmt.Sprintf("key %d sorts below the last record written, key %d from partition %d@%d: the stream went on without partition %d (idle) before this record arrived",
				e.Key, e.Against.Key, e.Against.Partition, e.Against.Offset, e.Partition)
			r.open.Late++
		case order.Unsorted:
			rec, reason = e.Item.(*kgo.Record), ReasonUnsorted
			msg = fmt.Sprintf("key %d is below the partition's previous key %d", e.Key, e.Against.Key)
			r.open.Unsorted++
		default:
			b := e.Item.(*badRecord)
			rec, reason, msg = b.r, b.reason, b.msg
			r.open.Bad++
		}
		if r.bad == nil {
			r.bad = map[string]int64{}
		}
		r.bad[reason]++
		r.cfg.Log.Warn("bad record", "source", kafka.Source(rec), "reason", reason, "err", msg)
		if err := r.dlq.Send(ctx, rec, reason, msg); err != nil {
			return err
		}
	}
}

// write writes one record given out: to the output topic, unchanged with
// HeaderSource added, or its value as a line of the file.
func (r *run) write(rec *kgo.Record) error {
	if r.file != nil {
		return r.file.line(rec.Value)
	}
	headers := make([]kgo.RecordHeader, 0, len(rec.Headers)+1)
	headers = append(append(headers, rec.Headers...), kgo.RecordHeader{Key: kafka.HeaderSource, Value: []byte(kafka.Source(rec))})
	r.m.Producer().Produce(&kgo.Record{
		Topic: r.cfg.OutputTopic, Partition: r.outPart,
		Key: rec.Key, Value: rec.Value, Headers: headers, Timestamp: rec.Timestamp,
	})
	return nil
}

// askEnds asks the brokers for the end offsets of the partitions the
// stream waits on and does not know to be read up to their end, at most a
// quarter idle timeout apart (and 50ms..500ms): a partition is idle only
// once it has read up to its end.
func (r *run) askEnds(ctx context.Context) {
	if r.cfg.IdleTimeout < 0 {
		return
	}
	now := time.Now()
	r.scratch = r.core.Waiting(r.scratch[:0], now)
	if len(r.scratch) == 0 || now.Sub(r.asked) < min(max(r.cfg.IdleTimeout/4, 50*time.Millisecond), 500*time.Millisecond) {
		return
	}
	r.asked = now
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l, err := r.adm.ListCommittedOffsets(lctx, r.cfg.Topic)
	if err != nil {
		r.cfg.Log.Debug("list end offsets", "err", err)
		return
	}
	l.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Partition >= 0 && o.Partition < r.parts {
			r.core.SetEnd(o.Partition, o.Offset)
		}
	})
}

// pauses pauses the partitions that hold records while the queues are past
// their share of the budget, and resumes them below it (see package
// order).
func (r *run) pauses() {
	r.pause, r.resume = r.core.Pauses(r.pause[:0], r.resume[:0])
	cl := r.m.Client()
	if len(r.pause) > 0 {
		cl.PauseFetchPartitions(map[string][]int32{r.cfg.Topic: r.pause})
		r.cfg.Metrics.PausedPartitions.Add(int64(len(r.pause)))
	}
	if len(r.resume) > 0 {
		cl.ResumeFetchPartitions(map[string][]int32{r.cfg.Topic: r.resume})
		r.cfg.Metrics.PausedPartitions.Add(-int64(len(r.resume)))
	}
}
