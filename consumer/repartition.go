package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/progress"
	"github.com/segmerge/segmerge/wire"
)

// The repartition stage.
//
// In the segment layout a batch spans every partition, so one process must
// read them all to assemble it. The repartition stage lifts that limit the
// way Kafka Streams does before a keyed aggregation: it reads the topic and
// writes every record, value bytes unchanged, to <topic>.by-batch keyed by
// its batch id, on partition batch_id mod P. The merge stage then reads
// <topic>.by-batch in the batch layout (consume --layout batch), where the
// processes of a group split the partitions. Both stages scale by adding
// processes to their groups.
//
// Each process of the stage is one group member in a GroupTransactSession:
// the records it forwards, the dead letters and the input offsets of
// everything it polled commit together, every CommitInterval. Every polled
// record is forwarded (or dead-lettered), so committing all polled offsets
// is right, unlike the merge stage, which holds records of batches still
// being assembled. A rebalance aborts the open transaction and the session
// rewinds to the last commit, so a source partition's records reach
// <topic>.by-batch, as read_committed readers see it, once and in source
// order.
//
// Forwarded records carry two headers: HeaderSource (where the record was
// read, topic/partition@offset) and HeaderPartitions (the source topic's
// partition count). The merge stage reads each source partition's records
// as a lane, ordered by batch id (see lanes.go).
//
// A record that cannot be decoded (its batch id unknown) has no partition
// to go to: it goes to <topic>.dlq with the merge stage's headers. Records
// that decode but are wrong within their batch (a segment out of range, a
// conflicting copy) are forwarded: only the merge stage, which sees the
// whole batch, can judge them, and it dead-letters them to
// <topic>.by-batch.dlq.

// RepartitionStats is what a repartition run did.
type RepartitionStats struct {
	Records int64 // records forwarded to <topic>.by-batch and committed
	Bad     int64 // records dead-lettered and committed
	Aborted int64 // transactions aborted (and redone)
	Elapsed time.Duration
}

// RepartitionTopic is where the repartition stage writes: OutputTopic if
// set, else <topic>.by-batch.
func (c *Config) RepartitionTopic() string {
	if c.OutputTopic != "" {
		return c.OutputTopic
	}
	return c.Topic + ".by-batch"
}

// validateRepartition rejects settings that mean nothing to the repartition
// stage.
func (c *Config) validateRepartition() error {
	switch {
	case c.Sink != nil:
		return errors.New("--stage repartition writes only <topic>.by-batch: drop --out-file and --console")
	case c.Count != 0:
		return fmt.Errorf("invalid --count %d with --stage repartition: it forwards records, not batches", c.Count)
	case c.Mode != ModeSimple:
		return fmt.Errorf("invalid --mode %s with --stage repartition: run more processes in the group instead", c.Mode)
	case c.Layout != LayoutSegment:
		return fmt.Errorf("invalid --layout %s with --stage repartition: a batch-layout topic needs no repartition stage; merge it with --layout batch", c.Layout)
	case c.RepartitionTopic() == c.Topic:
		return fmt.Errorf("invalid --output-topic %q: must differ from the input --topic", c.OutputTopic)
	}
	return nil
}

// Repartition runs the repartition stage (see above) until ctx is done or,
// with -e, the group's commits reach the end offsets read at start; it then
// commits the last transaction and leaves the group. Cancelling ctx is a
// clean stop, not an error.
func Repartition(ctx context.Context, cfg Config) (RepartitionStats, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Counters == nil {
		cfg.Counters = new(progress.Counters)
	}
	cfg.Stage = StageRepartition
	if err := cfg.Validate(); err != nil {
		return RepartitionStats{}, err
	}
	cfg.OutputTopic = cfg.RepartitionTopic()
	start := time.Now()
	admCl, err := kafka.Client(cfg.Brokers, kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		return RepartitionStats{}, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	parts, err := waitTopic(ctx, adm, &cfg)
	if err != nil || parts == 0 {
		return RepartitionStats{}, err
	}
	r := &repartitioner{cfg: &cfg, adm: adm, parts: parts}
	if cfg.ExitAtEnd {
		if r.endAt, err = kafka.EndOffsets(ctx, adm, cfg.Topic); err != nil {
			return RepartitionStats{}, err
		}
		if r.startAt, err = kafka.StartOffsets(ctx, adm, cfg.Topic); err != nil {
			return RepartitionStats{}, err
		}
	}
	if _, _, err := kafka.EnsureTopic(ctx, adm, cfg.Log, cfg.OutputTopic, parts, false); err != nil {
		return RepartitionStats{}, err
	}
	reset := kgo.NewOffset().AtEnd()
	if cfg.FromBeginning {
		reset = kgo.NewOffset().AtStart()
	}
	opts := append(kafka.Options(cfg.Brokers),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(reset),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.SessionTimeout(cfg.SessionTimeout),
		// kgo's 3s heartbeat must come well inside a shorter session.
		kgo.HeartbeatInterval(min(3*time.Second, cfg.SessionTimeout/3)),
		kgo.TransactionalID(cfg.txnID()),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(kafka.BatchPartitioner(cfg.OutputTopic)),
	)
	s, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return RepartitionStats{}, fmt.Errorf("kafka client: %w", err)
	}
	r.sess = s
	r.prod = &producer{cl: s.Client()}
	r.dlq = &deadLetters{p: r.prod, adm: adm, log: cfg.Log, group: cfg.Group, topic: cfg.Topic + ".dlq", parts: parts}
	cfg.Log.Info("repartitioning", "topic", cfg.Topic, "into", cfg.OutputTopic, "group", cfg.Group, "partitions", parts, "transactional_id", cfg.txnID())

	runErr := r.loop(ctx)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	abort := runErr != nil || r.cut
	if !abort {
		ectx, release := ending(fctx, ctx, cfg.stopGrace())
		runErr = r.end(ectx, false)
		if wasCut(ectx, cfg.Log) {
			runErr, abort = nil, true
		}
		release()
	}
	if abort {
		if _, err := s.End(fctx, kgo.TryAbort); err != nil {
			cfg.Log.Warn("abort the open transaction", "err", err)
		}
	}
	s.AllowRebalance()
	closeWithin(cfg.closeWait(), cfg.Log, s.Close)
	r.st.Elapsed = time.Since(start)
	return r.st, explainFenced(runErr, &cfg)
}

// repartitioner is one run of the stage.
type repartitioner struct {
	cfg     *Config
	adm     *kadm.Client
	sess    *kgo.GroupTransactSession
	prod    *producer
	dlq     *deadLetters
	parts   int32
	endAt   kafka.Offsets // -e only
	startAt kafka.Offsets

	st       RepartitionStats
	records  int64 // forwarded in the open transaction
	bad      int64 // dead-lettered in the open transaction
	ended    time.Time
	polled   bool // records polled since the last end
	cut      bool // a stop cut off ending a transaction (see ending)
	asked    time.Time
	failures int
	dec      wire.Decoder
	seg      wire.Segment
}

func (r *repartitioner) loop(ctx context.Context) error {
	if err := r.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	r.ended = time.Now()
	wait := min(r.cfg.CommitInterval, 250*time.Millisecond)
	// A stop cancels ctx, which ends the poll; a transaction being ended
	// runs to its end under work (see member.loop).
	work := context.WithoutCancel(ctx)
	for {
		pctx, cancel := context.WithTimeout(ctx, wait)
		fs := r.sess.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		var fatal error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			r.cfg.Log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			if f := fetchFatal(err, r.cfg); f != nil {
				fatal = f
			}
		})
		if fatal != nil {
			return fatal
		}
		var err error
		fs.EachRecord(func(rec *kgo.Record) {
			r.polled = true
			if err == nil {
				err = r.forward(work, rec)
			}
		})
		// A transaction with nothing polled has nothing to commit; ending
		// it anyway costs a round of requests and, with no offsets, holds
		// the session's rebalance callbacks back for a moment (kgo waits
		// 500ms after a commit it cannot tell is KIP-447 safe).
		if err == nil && r.polled && time.Since(r.ended) >= r.cfg.CommitInterval {
			ectx, release := ending(work, ctx, r.cfg.stopGrace())
			err = r.end(ectx, true)
			if wasCut(ectx, r.cfg.Log) {
				err, r.cut = nil, true
			}
			release()
		}
		// Rebalances wait for this point: between transactions, or with
		// records of the open one that an abort would redo.
		r.sess.AllowRebalance()
		if err != nil {
			return err
		}
		if r.endAt != nil && r.failures == 0 && r.atEnd(ctx) {
			return nil
		}
	}
}

// forward writes one polled record to the repartition topic, or a record
// that cannot be decoded to the dead letters.
func (r *repartitioner) forward(ctx context.Context, rec *kgo.Record) error {
	if rec.Attrs.IsControl() {
		return nil // a transaction marker of a transactional input
	}
	src := fmt.Sprintf("%s/%d@%d", rec.Topic, rec.Partition, rec.Offset)
	if err := r.dec.Decode(rec.Value, &r.seg); err != nil {
		reason := wire.ReasonNotJSON
		var we *wire.Error
		if errors.As(err, &we) {
			reason = we.Reason
		}
		r.bad++
		r.cfg.Counters.Bad.Add(1)
		return r.dlq.send(ctx, rec, reason, err.Error())
	}
	r.records++
	r.cfg.Counters.Records.Add(1)
	r.prod.produce(&kgo.Record{
		Topic: r.cfg.OutputTopic,
		Key:   strconv.AppendInt(nil, r.seg.BatchID, 10),
		Value: rec.Value,
		Headers: append(append(make([]kgo.RecordHeader, 0, len(rec.Headers)+2), rec.Headers...),
			kgo.RecordHeader{Key: HeaderSource, Value: []byte(src)},
			kgo.RecordHeader{Key: HeaderPartitions, Value: []byte(strconv.Itoa(int(r.parts)))},
		),
	})
	return nil
}

// end ends the open transaction, committing the forwarded records with the
// offsets of everything polled; an abort (a rebalance, a broker that could
// not commit) rewinds to the last commit and the records are forwarded
// again. Only a fatal error, or five aborts in a row, ends the run. With
// again, a new transaction begins.
func (r *repartitioner) end(ctx context.Context, again bool) error {
	if err := r.prod.flush(ctx); err != nil {
		return fmt.Errorf("flush %s: %w", r.cfg.OutputTopic, err)
	}
	committed, err := r.sess.End(ctx, kgo.TryCommit)
	r.ended, r.polled = time.Now(), false
	if committed {
		r.st.Records += r.records
		r.st.Bad += r.bad
		r.failures = 0
	} else {
		r.st.Aborted++
		r.failures++
	}
	r.records, r.bad = 0, 0
	id := r.cfg.txnID()
	switch {
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return fmt.Errorf("transaction %s: %w", id, err)
	case !committed && r.failures >= 5:
		return fmt.Errorf("transaction %s aborted %d times in a row: %w", id, r.failures, err)
	case !committed && err != nil:
		r.cfg.Log.Warn("transaction aborted; redoing from the last commit", "err", err)
	case !committed:
		r.cfg.Log.Info("transaction aborted by a rebalance; redoing from the last commit")
	}
	if !again {
		return nil
	}
	if err := r.sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	return nil
}

// atEnd reports, with -e, whether the group's commits have reached the end
// offsets read at start on every partition that had records then: this
// process's own commits and those of the other processes of the group. A
// partition with no commit counts as done unless --from-beginning (a member
// would start it at its end). It asks the group at most every 200ms.
func (r *repartitioner) atEnd(ctx context.Context) bool {
	if time.Since(r.asked) < 200*time.Millisecond {
		return false
	}
	r.asked = time.Now()
	committed, err := kafka.Committed(ctx, r.adm, r.cfg.Group, r.cfg.Topic)
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Log.Warn("read the group's commits", "err", err)
		}
		return false
	}
	for p, end := range r.endAt {
		if end <= r.startAt[p] {
			continue
		}
		off, ok := committed[p]
		if !ok && !r.cfg.FromBeginning {
			continue
		}
		if off < end {
			return false
		}
	}
	return true
}
