package consumer

import (
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/assemble"
	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/setting"
	"github.com/segmerge/segmerge/metrics"
	"github.com/segmerge/segmerge/sink"
	"github.com/segmerge/segmerge/wire"
)

// Modes, all with identical output (see the package doc).
const (
	ModeSimple     = "simple"
	ModeScalable   = "scalable"
	ModeConcurrent = "concurrent"
)

// Layouts: where the records of a batch sit (see package wire), which
// decides how the work can be spread over processes.
const (
	// LayoutSegment: a batch spans partitions, so one process must own
	// them all, and its output is in ascending batch order.
	LayoutSegment = wire.LayoutSegment
	// LayoutBatch (a topic produced in the batch layout, or
	// <topic>.by-batch written by package repartition): a batch sits whole
	// in one partition, so the processes of a group split the partitions
	// between them. Each partition is assembled on its own, in lanes when
	// its records carry the repartition stage's headers (see
	// assemble.Lanes).
	LayoutBatch = wire.LayoutBatch
)

// Config is a consumer run; start from DefaultConfig. Validate's errors
// name the field at fault.
type Config struct {
	Brokers []string
	// ClientOpts are franz-go options every client of the run takes
	// after segmerge's own: TLS, SASL, tunables.
	ClientOpts []kgo.Opt
	// MemberOpts are franz-go options only the run's group member (the
	// first, in scalable mode) takes, after ClientOpts: hooks that
	// export the client's own metrics, say.
	MemberOpts []kgo.Opt
	Topic      string // default "segment-topic"
	Group      string // default "segmerge"
	Mode       string // default ModeSimple
	// Layout is the input's layout, LayoutSegment (default) or
	// LayoutBatch.
	Layout string
	// Consumers is the number of group members in scalable mode; default
	// one per partition of the topic.
	Consumers int
	// Segments is the segment count of a batch whose records do not say;
	// default 10.
	Segments int64
	// FromBeginning starts a group with no committed offset at the start
	// of the topic rather than its end.
	FromBeginning bool
	// ExitAtEnd stops once the end offsets read at start are reached.
	ExitAtEnd bool
	// Count stops after this many batches are written; 0 means no limit.
	Count int64
	// Sink receives the merged batches (a file, stdout, ...); may be nil
	// when OutputTopic is set. In the batch layout batch ids do not ascend
	// in one process, so Run makes a sink.Writer write every batch (see
	// sink.Writer.WriteAll) rather than skip those below its last.
	Sink sink.Sink
	// OutputTopic, if set, receives every merged batch as a record keyed
	// by its batch id; created if missing.
	OutputTopic string
	// MaxBatchGap makes a partition's jump in batch ids suspect when it
	// passes what the other partitions and the batches written vouch for
	// by more than this: one record far ahead (a hostile or mistyped batch
	// id) then holds nothing back, and when the partition's next records
	// come below it, it goes to the dead letters as far-ahead (see
	// assemble.Config.MaxBatchGap). Default 1,000,000; 0 turns it off.
	MaxBatchGap int64
	// BatchTimeout makes a batch still incomplete this long after its
	// first record final: it goes to the dead-letter topic and the batches
	// after it go on. Zero (the default) waits until the partitions that
	// could complete it have moved past it.
	BatchTimeout time.Duration
	// TransactionalID names the transactional producer that writes the
	// output topic, the dead letters and the input offsets atomically.
	// Kafka fences a producer when another one starts with its id, so every
	// process of a group needs its own. Default, in the segment layout
	// (one process owns every partition): "segmerge-<group>-<topic>",
	// stable across restarts, so a restarted consumer fences its crashed
	// predecessor's transaction at once. Default in the batch layout (many
	// processes share the group):
	// "segmerge-<group>-<topic>-<host>-<pid>-<random>", new for every
	// process; a crashed process's open transaction then ends only at
	// TransactionTimeout. Either way the group's generation, sent with
	// the transaction's offsets (KIP-447), fences a member that lost its
	// partitions, so any id unique to the process is safe.
	TransactionalID string
	// TransactionTimeout is how long the broker lets a transaction stay
	// open before aborting it: how long the output of a crashed process
	// whose id nobody reuses stays in the way of read_committed readers.
	// It must exceed SessionTimeout by a margin (see
	// kafka.MinTransactionTimeout). Default 20s.
	TransactionTimeout time.Duration
	// SessionTimeout is how long the group waits for a member that stopped
	// heartbeating (a crashed process) before giving its partitions away;
	// a restarted consumer resumes after it. Default 10s.
	SessionTimeout time.Duration
	// CommitInterval is how often written output is flushed and offsets
	// committed. An output topic's batches become visible to read_committed
	// readers at the commit that holds them, so it bounds their latency;
	// each commit costs an fsync of the output file and the end of a
	// transaction, and a consumer with nothing new since the last commit
	// skips it. Default 100ms, as Kafka Streams' exactly-once
	// commit.interval.ms.
	CommitInterval time.Duration
	// MaxRecordBytes bounds an output-topic record; a larger batch is
	// split into chunk records. Default 512 KiB.
	MaxRecordBytes int
	// Memory is the consumer's memory budget in bytes, from which its
	// fetch, held-batch and output-buffer limits are derived (see package
	// budget); a batch larger than its share is merged as it streams in.
	// Default 512 MiB. The process's Go memory limit is the caller's to
	// set (GoMemoryLimit).
	Memory int64
	// Log receives the run's log lines; default none.
	Log *slog.Logger
	// Metrics, if set, counts what the run does as it goes.
	Metrics *metrics.Run
}

// DefaultMemory is Config.Memory's default, MinMemory the least accepted.
const (
	DefaultMemory = budget.Default
	MinMemory     = budget.Min
)

// GoMemoryLimit is the Go memory limit (debug.SetMemoryLimit) that keeps a
// process with a consumer of budget memory within it.
func GoMemoryLimit(memory int64) int64 { return budget.GoLimit(memory) }

// DefaultConfig returns the defaults: topic segment-topic, group segmerge,
// simple mode, segment layout, 10 segments a batch, commits every 100ms,
// a 10s session, transactions of at most 20s, output records of at most
// 512 KiB, a 512 MiB memory budget, a batch gap of 1,000,000.
func DefaultConfig() Config {
	return Config{
		Topic:              "segment-topic",
		Group:              "segmerge",
		Mode:               ModeSimple,
		Layout:             LayoutSegment,
		Segments:           10,
		CommitInterval:     100 * time.Millisecond,
		SessionTimeout:     10 * time.Second,
		TransactionTimeout: 20 * time.Second,
		MaxRecordBytes:     512 << 10,
		Memory:             DefaultMemory,
		MaxBatchGap:        1_000_000,
	}
}

// transactional reports whether the run commits in Kafka transactions:
// in the modes where one member owns every partition (scalable mode splits
// a batch's offsets over several members, which one transaction cannot
// span). A transaction holds the output topic's records, the dead letters
// and the input offsets; with a file alone, it still makes the dead
// letters exactly once.
func (c *Config) transactional() bool { return c.Mode != ModeScalable }

// txnID returns the transactional id to use (see TransactionalID). A
// default unique to the process is chosen on the first call and kept in c,
// so that a run uses one id throughout.
func (c *Config) txnID() string {
	if c.TransactionalID != "" {
		return c.TransactionalID
	}
	id := "segmerge-" + c.Group + "-" + c.Topic
	if c.Layout == LayoutBatch {
		id += "-" + kafka.Instance()
		c.TransactionalID = id
	}
	return id
}

// cluster is how the run reaches the brokers.
func (c *Config) cluster() kafka.Cluster {
	return kafka.Cluster{Brokers: c.Brokers, Opts: c.ClientOpts}
}

// Validate rejects settings that make no sense, naming the field at fault
// (a *setting.Error).
func (c *Config) Validate() error {
	switch {
	case c.Mode != ModeSimple && c.Mode != ModeScalable && c.Mode != ModeConcurrent:
		return setting.Invalid("Mode", c.Mode, "must be simple, scalable or concurrent")
	case c.Layout != LayoutSegment && c.Layout != LayoutBatch:
		return setting.Invalid("Layout", c.Layout, "must be segment or batch")
	case c.Consumers < 0:
		return setting.Invalid("Consumers", c.Consumers, "must be >= 1 (or 0: one per partition)")
	case c.Consumers > 0 && c.Mode != ModeScalable:
		return setting.Invalid("Consumers", c.Consumers, "only {Mode} scalable runs several group members")
	case c.Segments < 1 || c.Segments > assemble.MaxSegments:
		return setting.Invalid("Segments", c.Segments, "must be between 1 and %d", assemble.MaxSegments)
	case c.Count < 0:
		return setting.Invalid("Count", c.Count, "must be >= 0 (0: no limit)")
	case c.MaxBatchGap < 0:
		return setting.Invalid("MaxBatchGap", c.MaxBatchGap, "must be >= 0 (0: no check)")
	case c.BatchTimeout < 0:
		return setting.Invalid("BatchTimeout", c.BatchTimeout, "must be >= 0 (0: wait for the partitions)")
	case c.Memory < MinMemory:
		return setting.Invalid("Memory", budget.Format(c.Memory), "must be at least %s", budget.Format(MinMemory))
	case c.MaxRecordBytes < 1024:
		return setting.Invalid("MaxRecordBytes", c.MaxRecordBytes, "must be >= 1024 bytes")
	case c.Topic == "":
		return setting.Invalid("Topic", "", "must not be empty")
	case c.Group == "":
		return setting.Invalid("Group", "", "must not be empty")
	case c.OutputTopic == c.Topic:
		return setting.Invalid("OutputTopic", c.OutputTopic, "must differ from the input {Topic}")
	case c.Sink == nil && c.OutputTopic == "":
		return setting.Invalid("Sink", "", "nothing to write to: set {Sink} or {OutputTopic}")
	}
	return kafka.CheckTimings(c.SessionTimeout, c.CommitInterval, c.TransactionTimeout, c.transactional())
}
