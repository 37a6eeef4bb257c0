package repartition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/setting"
	"github.com/segmerge/segmerge/metrics"
	"github.com/segmerge/segmerge/wire"
)

// Config is a repartition run; start from DefaultConfig. Validate's errors
// name the field at fault.
type Config struct {
	Brokers []string
	// ClientOpts are franz-go options every client of the run takes
	// after segmerge's own: TLS, SASL, tunables.
	ClientOpts []kgo.Opt
	// MemberOpts are franz-go options only the group member's client
	// takes, after ClientOpts: hooks that export its metrics, say.
	MemberOpts []kgo.Opt
	// Topic is the segment-layout topic to read; default "segment-topic".
	Topic string
	// Group is the stage's group; default "segmerge-repartition", never the
	// merge stage's: the stages read different topics.
	Group string
	// OutputTopic receives the records; default <Topic>.by-batch, created
	// with the input's partition count if missing.
	OutputTopic string
	// FromBeginning starts a group with no committed offset at the start
	// of the topic rather than its end.
	FromBeginning bool
	// ExitAtEnd stops once the group's commits reach the end offsets read
	// at start.
	ExitAtEnd bool
	// TransactionalID names the transactional producer; default
	// "segmerge-<group>-<topic>-<host>-<pid>-<random>", new for every
	// process (see consumer.Config.TransactionalID).
	TransactionalID string
	// TransactionTimeout is how long the broker lets a transaction stay
	// open (see consumer.Config.TransactionTimeout); default 20s.
	TransactionTimeout time.Duration
	// SessionTimeout is how long the group waits for a silent member;
	// default 10s.
	SessionTimeout time.Duration
	// CommitInterval is how often a transaction commits; default 100ms.
	CommitInterval time.Duration
	// Memory is the stage's memory budget in bytes (see package budget);
	// default 512 MiB.
	Memory int64
	// Log receives the run's log lines; default none.
	Log *slog.Logger
	// Metrics, if set, counts what the run does as it goes.
	Metrics *metrics.Run
}

// DefaultGroup is Config.Group's default.
const DefaultGroup = "segmerge-repartition"

// DefaultConfig returns the defaults: topic segment-topic, group
// segmerge-repartition, commits every 100ms (as the merge stage), a 10s
// session, transactions of at most 20s, a 512 MiB memory budget.
func DefaultConfig() Config {
	return Config{
		Topic:              "segment-topic",
		Group:              DefaultGroup,
		CommitInterval:     100 * time.Millisecond,
		SessionTimeout:     10 * time.Second,
		TransactionTimeout: 20 * time.Second,
		Memory:             budget.Default,
	}
}

// Output is where the stage writes: OutputTopic if set, else
// <Topic>.by-batch.
func (c *Config) Output() string {
	if c.OutputTopic != "" {
		return c.OutputTopic
	}
	return c.Topic + ".by-batch"
}

// Validate rejects settings that make no sense, naming the field at fault
// (a *setting.Error).
func (c *Config) Validate() error {
	switch {
	case c.Topic == "":
		return setting.Invalid("Topic", "", "must not be empty")
	case c.Group == "":
		return setting.Invalid("Group", "", "must not be empty")
	case c.Output() == c.Topic:
		return setting.Invalid("OutputTopic", c.OutputTopic, "must differ from the input {Topic}")
	case c.Memory < budget.Min:
		return setting.Invalid("Memory", budget.Format(c.Memory), "must be at least %s", budget.Format(budget.Min))
	}
	return kafka.CheckTimings(c.SessionTimeout, c.CommitInterval, c.TransactionTimeout, true)
}

// Stats is what a repartition run did.
type Stats struct {
	Records int64 // records forwarded to the output topic and committed
	Bad     int64 // records dead-lettered and committed
	Aborted int64 // transactions aborted (and redone)
	Elapsed time.Duration
}

// Run runs the stage (see the package doc) until ctx is done or, with
// ExitAtEnd, the group's commits reach the end offsets read at start; it
// then commits the last transaction and leaves the group. Cancelling ctx is
// a clean stop, not an error.
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
		cfg.TransactionalID = "segmerge-" + cfg.Group + "-" + cfg.Topic + "-" + kafka.Instance()
	}
	start := time.Now()
	cluster := kafka.Cluster{Brokers: cfg.Brokers, Opts: cfg.ClientOpts}
	adm, closeAdm, parts, err := kafka.Input(ctx, cluster, cfg.Log, cfg.Topic, cfg.ExitAtEnd)
	if err != nil || parts == 0 {
		return Stats{}, err
	}
	defer closeAdm()
	r := &run{cfg: &cfg, parts: parts, out: cfg.Output(), badBy: map[string]int64{}}
	if cfg.ExitAtEnd {
		if r.atEnd, err = kafka.NewEndWatch(ctx, adm, cfg.Group, cfg.Topic, cfg.FromBeginning); err != nil {
			return Stats{}, err
		}
	}
	inputMax, err := kafka.MaxMessageBytes(ctx, adm, cfg.Topic)
	if err != nil {
		return Stats{}, err
	}
	topicID, err := kafka.TopicID(ctx, adm, cfg.Topic)
	if err != nil {
		return Stats{}, err
	}
	if _, _, err := kafka.EnsureTopicWith(ctx, adm, cfg.Log, r.out, parts, kafka.Copied(inputMax), false); err != nil {
		return Stats{}, err
	}
	if _, err := r.limits.Learn(ctx, adm, r.out); err != nil {
		return Stats{}, err
	}
	lim := budget.SplitForward(cfg.Memory, parts)
	member := kafka.Cluster{Brokers: cfg.Brokers, Opts: append(append([]kgo.Opt(nil), cfg.ClientOpts...), cfg.MemberOpts...)}
	if r.m, err = kafka.Join(kafka.GroupConfig{
		Cluster: member, Group: cfg.Group, Topic: cfg.Topic, TopicID: topicID,
		Assigned: r.assigned, Revoked: r.lost, Lost: r.lost, Stalled: cfg.Metrics.Stalled,
		FromBeginning: cfg.FromBeginning, SessionTimeout: cfg.SessionTimeout,
		FetchBytes: lim.FetchBytes, PartitionBytes: lim.PartitionBytes, FitRecords: kafka.FetchRecords,
		TransactionalID: cfg.TransactionalID, TransactionTimeout: cfg.TransactionTimeout,
		ProduceBuffer: lim.Produce, Limits: &r.limits, KeyedTopics: []string{r.out}, Log: cfg.Log,
	}); err != nil {
		return Stats{}, err
	}
	r.dlq = kafka.NewDeadLetters(r.m.Producer(), adm, cfg.Log, cfg.Group, cfg.Topic, parts, inputMax, &r.limits)
	cfg.Log.Info("repartitioning", "topic", cfg.Topic, "into", r.out, "group", cfg.Group, "partitions", parts, "transactional_id", cfg.TransactionalID)
	runErr := r.loop(ctx)
	runErr = r.shut(ctx, runErr)
	r.st.Elapsed = time.Since(start)
	return r.st, kafka.Explain(runErr, "TransactionalID", cfg.TransactionalID)
}

// run is one run of the stage.
type run struct {
	cfg   *Config
	m     *kafka.Member
	dlq   *kafka.DeadLetters
	parts int32
	out   string
	atEnd *kafka.EndWatch // ExitAtEnd only
	// limits bound the record batches written to each topic.
	limits kafka.Limits

	st      Stats
	records int64 // forwarded in the open transaction
	bad     int64 // dead-lettered in the open transaction
	ended   time.Time
	polled  bool // records polled since the last end
	cut     bool // a stop cut off ending a transaction (see kafka.Ending)
	dec     wire.Decoder
	seg     wire.Segment
	held    atomic.Int64     // partitions assigned (the callbacks run on kgo's goroutines)
	badBy   map[string]int64 // dead letters in the open transaction, by reason
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
		r.cfg.Log.Warn("the broker fenced this stage's transaction after it restarted (it aborts what was open); starting a new transactional session from the last commit",
			"transactional_id", r.cfg.TransactionalID, "err", err)
		if err := r.m.Restart(func() { r.records, r.bad, r.polled = 0, 0, false; clear(r.badBy) }); err != nil {
			return err
		}
	}
}

// loopOnce polls and forwards, in the transaction begun, until ctx is
// done, the end (ExitAtEnd), or an error.
func (r *run) loopOnce(ctx context.Context) error {
	r.ended = time.Now()
	wait := min(r.cfg.CommitInterval, 250*time.Millisecond)
	// A stop cancels ctx, which ends the poll; a transaction being ended
	// runs to its end under work (see package consumer).
	work := context.WithoutCancel(ctx)
	for {
		fs, stop, err := r.m.Poll(ctx, wait)
		if stop || err != nil {
			r.m.AllowRebalance()
			return err
		}
		r.cfg.Metrics.Polled()
		fs.EachRecord(func(rec *kgo.Record) {
			r.polled = true
			if err == nil {
				err = r.forward(work, rec)
			}
		})
		// A transaction with nothing polled has nothing to commit; ending
		// it anyway costs a round of requests and, with no offsets, holds
		// the session's rebalance callbacks back for a moment.
		if err == nil && r.polled && time.Since(r.ended) >= r.cfg.CommitInterval {
			err = r.endBy(work, ctx, true)
		}
		// Rebalances wait for this point: between transactions, or with
		// records of the open one that an abort would redo.
		r.m.AllowRebalance()
		if err != nil || r.cut {
			return err
		}
		if r.atEnd != nil && r.m.Failures() == 0 && r.atEnd.Committed(ctx, r.atEnd.Partitions(), r.cfg.Log) {
			return nil
		}
	}
}

// assigned and lost keep the metrics' account of the partitions held.
func (r *run) assigned(_ context.Context, parts []int32) {
	r.held.Add(int64(len(parts)))
	r.cfg.Metrics.Rebalances.Add(1)
	r.cfg.Metrics.Joined(true, int(r.held.Load()))
}

func (r *run) lost(_ context.Context, parts []int32) {
	r.held.Add(-int64(len(parts)))
	r.cfg.Metrics.Rebalances.Add(1)
	r.cfg.Metrics.Joined(true, int(r.held.Load()))
}

// forward writes one polled record to the output topic, or a record that
// cannot be decoded to the dead letters.
func (r *run) forward(ctx context.Context, rec *kgo.Record) error {
	if rec.Attrs.IsControl() {
		return nil // a transaction marker of a transactional input
	}
	if err := r.dec.Decode(rec.Value, &r.seg); err != nil {
		reason := wire.ReasonNotJSON
		var we *wire.Error
		if errors.As(err, &we) {
			reason = we.Reason
		}
		r.bad++
		r.badBy[reason]++
		r.cfg.Log.Warn("bad record", "source", kafka.Source(rec), "reason", reason, "err", err)
		return r.dlq.Send(ctx, rec, reason, err.Error())
	}
	r.records++
	r.m.Producer().Produce(&kgo.Record{
		Topic: r.out,
		Key:   strconv.AppendInt(nil, r.seg.BatchID, 10),
		Value: rec.Value,
		Headers: append(append(make([]kgo.RecordHeader, 0, len(rec.Headers)+2), rec.Headers...),
			kgo.RecordHeader{Key: kafka.HeaderSource, Value: []byte(kafka.Source(rec))},
			kgo.RecordHeader{Key: kafka.HeaderPartitions, Value: []byte(strconv.Itoa(int(r.parts)))},
		),
	})
	return nil
}

// endBy ends the open transaction under kafka.Ending: committing the
// forwarded records with the offsets of everything polled; an abort (a
// rebalance, a broker that could not commit) rewinds to the last commit
// and the records are forwarded again. A stop cuts it a grace after (r.cut:
// Run aborts it). With again, a new transaction begins.
func (r *run) endBy(base, stop context.Context, again bool) error {
	cut, err := r.m.EndBy(base, stop, func(ctx context.Context) error { return r.end(ctx, again) })
	r.cut = r.cut || cut
	return err
}

func (r *run) end(ctx context.Context, again bool) error {
	if err := r.m.Producer().Flush(ctx); err != nil {
		return fmt.Errorf("flush %s: %w", r.out, err)
	}
	committed, err := r.m.End(ctx, nil, again)
	r.ended, r.polled = time.Now(), false
	m := r.cfg.Metrics
	if committed {
		r.st.Records += r.records
		r.st.Bad += r.bad
		m.Records.Add(r.records)
		m.Committed.Add(1)
		for reason, n := range r.badBy {
			m.DeadLetter(reason, n)
		}
	} else {
		r.st.Aborted++
		m.Aborted.Add(1)
	}
	r.records, r.bad = 0, 0
	clear(r.badBy)
	return err
}

// shut commits the last transaction (aborts it after an error or a cut
// end) and leaves the group, each within its bound.
func (r *run) shut(stopped context.Context, runErr error) error {
	return r.m.Shut(stopped, runErr, func() bool { return r.cut }, func(fctx, stopped context.Context) error {
		return r.endBy(fctx, stopped, false)
	})
}
