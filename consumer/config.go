package consumer

import (
	"errors"
	"fmt"
	"github.com/segmerge/segmerge/assemble"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/segmerge/segmerge/internal/progress"
	"github.com/segmerge/segmerge/sink"
)

// Modes, all with identical output (see the package doc).
const (
	ModeSimple     = "simple"
	ModeScalable   = "scalable"
	ModeConcurrent = "concurrent"
)

// Layouts: where the records of a batch sit, which decides how the work can
// be spread over processes (see the README's "Scale out").
const (
	// LayoutSegment is the original layout, segment s of every batch on
	// partition s mod P: a batch spans partitions, so one process must
	// own them all, and its output is in ascending batch order.
	LayoutSegment = "segment"
	// LayoutBatch has every record of batch b on partition b mod P
	// (produce --layout batch, or <topic>.by-batch written by the
	// repartition stage): a batch sits whole in one partition, so the
	// processes of a group split the partitions between them. Each
	// partition is assembled on its own, in lanes when its records carry
	// the repartition stage's headers (see lanes.go).
	LayoutBatch = "batch"
)

// Stages: what a consume process does.
const (
	// StageMerge assembles and merges batches (Run).
	StageMerge = "merge"
	// StageRepartition re-keys a segment-layout topic by batch id into
	// <topic>.by-batch (Repartition), so that the merge stage can run as
	// many processes.
	StageRepartition = "repartition"
)

// Config is a consumer run; start from DefaultConfig. Validate's errors name the command-line flag
// that sets each field.
type Config struct {
	Brokers []string
	Topic   string // default "segment-topic"
	Group   string // default "segmerge"
	Mode    string // default ModeSimple
	// Layout is the input's layout, LayoutSegment (default) or
	// LayoutBatch.
	Layout string
	// Stage is StageMerge (default) or StageRepartition.
	Stage string
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
	// when OutputTopic is set.
	Sink sink.Sink
	// OutputTopic, if set, receives every merged batch as a record keyed
	// by its batch id; created if missing.
	OutputTopic string
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
	// predecessor's transaction at once. Default in the batch layout and
	// the repartition stage (many processes share the group):
	// "segmerge-<group>-<topic>-<host>-<pid>-<random>", new for every
	// process; a crashed process's open transaction then ends only at
	// TransactionTimeout. Either way the group's generation, sent with
	// the transaction's offsets (KIP-447), fences a member that lost its
	// partitions, so any id unique to the process is safe.
	TransactionalID string
	// TransactionTimeout is how long the broker lets a transaction stay
	// open before aborting it: how long the output of a crashed process
	// whose id nobody reuses stays in the way of read_committed readers.
	// A transaction lasts about one CommitInterval, but ending it waits
	// for a rebalance in progress, and a rebalance waits up to
	// SessionTimeout for a member that died; a transaction the broker
	// aborts meanwhile fences its producer. So it must exceed
	// SessionTimeout by a margin (see Validate). Default 20s.
	TransactionTimeout time.Duration
	// SessionTimeout is how long the group waits for a member that stopped
	// heartbeating (a crashed process) before giving its partitions away;
	// a restarted consumer resumes after it. Default 10s.
	SessionTimeout time.Duration
	// CommitInterval is how often written output is flushed and offsets
	// committed; default 1s.
	CommitInterval time.Duration
	// MaxRecordBytes bounds an output-topic record; a larger batch is
	// split into chunk records. Default 512 KiB.
	MaxRecordBytes int
	// Memory is the consumer's memory budget in bytes, from which its
	// fetch, held-batch and output-buffer limits are derived (see
	// memory.go); a batch larger than its share is merged as it streams in.
	// Default 512 MiB. The process's Go memory limit is the caller's to
	// set (the command sets it to GoMemoryLimit(Memory), and turns the
	// collector's GOGC pacing off unless GOGC is set).
	Memory   int64
	Log      *slog.Logger
	Counters *progress.Counters
}

// DefaultConfig returns the defaults: topic segment-topic, group segmerge,
// simple mode, segment layout, merge stage, 10 segments a batch, commits
// every second, a 10s session, transactions of at most 20s, output records
// of at most 512 KiB, a 512 MiB memory budget.
func DefaultConfig() Config {
	return Config{
		Topic:              "segment-topic",
		Group:              "segmerge",
		Mode:               ModeSimple,
		Layout:             LayoutSegment,
		Stage:              StageMerge,
		Segments:           10,
		CommitInterval:     time.Second,
		SessionTimeout:     10 * time.Second,
		TransactionTimeout: 20 * time.Second,
		MaxRecordBytes:     512 << 10,
		Memory:             DefaultMemory,
	}
}

// transactional reports whether output goes through Kafka transactions:
// with an output topic, in the modes where one member owns every partition
// (scalable mode splits a batch's offsets over several members, which one
// transaction cannot span).
func (c *Config) transactional() bool {
	return c.OutputTopic != "" && c.Mode != ModeScalable
}

// stopGrace is how long a stop waits for a transaction being ended (see
// ending): an end takes milliseconds unless it waits on a rebalance, and a
// transaction cut off then is aborted well inside TransactionTimeout.
func (c *Config) stopGrace() time.Duration {
	return min(5*time.Second, c.SessionTimeout/2)
}

// closeWait is how long a consumer waits to leave its group as it ends
// (see closeWithin): twice the session timeout, at most 20s, so that with
// stopGrace a stop ends within Kubernetes' default 30s grace.
func (c *Config) closeWait() time.Duration {
	return min(20*time.Second, 2*c.SessionTimeout)
}

// minTransactionTimeout is the least TransactionTimeout that outlasts a
// rebalance waiting for a crashed member, with a margin.
func (c *Config) minTransactionTimeout() time.Duration {
	return c.SessionTimeout + max(2*c.CommitInterval, 2*time.Second)
}

// shared reports whether several processes may share the group: the batch
// layout and the repartition stage spread partitions over processes.
func (c *Config) shared() bool {
	return c.Layout == LayoutBatch || c.Stage == StageRepartition
}

// txnID returns the transactional id to use (see TransactionalID). A
// default unique to the process is chosen on the first call and kept in c,
// so that a run uses one id throughout.
func (c *Config) txnID() string {
	if c.TransactionalID != "" {
		return c.TransactionalID
	}
	id := "segmerge-" + c.Group + "-" + c.Topic
	if c.shared() {
		id += "-" + instance()
		c.TransactionalID = id
	}
	return id
}

// instance names a run among the members of a group: host, pid and a
// random part (two containers may share a host name and a pid, and one
// process may run several consumers).
func instance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	return fmt.Sprintf("%s-%d-%06x", host, os.Getpid(), rand.Uint32()&0xffffff)
}

// Validate rejects settings that make no sense, naming the flag at fault.
func (c *Config) Validate() error {
	switch {
	case c.Mode != ModeSimple && c.Mode != ModeScalable && c.Mode != ModeConcurrent:
		return fmt.Errorf("invalid --mode %q: must be simple, scalable or concurrent", c.Mode)
	case c.Layout != LayoutSegment && c.Layout != LayoutBatch:
		return fmt.Errorf("invalid --layout %q: must be segment or batch", c.Layout)
	case c.Stage != StageMerge && c.Stage != StageRepartition:
		return fmt.Errorf("invalid --stage %q: must be merge or repartition", c.Stage)
	case (c.transactional() || c.Stage == StageRepartition) && c.TransactionTimeout < c.minTransactionTimeout():
		return fmt.Errorf("invalid --transaction-timeout %v: must be at least %v, --session-timeout plus the larger of 2s and twice --commit-interval: ending a transaction can wait out a rebalance, which waits up to --session-timeout for a crashed member", c.TransactionTimeout, c.minTransactionTimeout())
	case c.Consumers < 0:
		return fmt.Errorf("invalid --consumers %d: must be >= 1 (or 0: one per partition)", c.Consumers)
	case c.Consumers > 0 && c.Mode != ModeScalable:
		return fmt.Errorf("invalid --consumers %d: only --mode scalable runs several group members", c.Consumers)
	case c.Segments < 1 || c.Segments > assemble.MaxSegments:
		return fmt.Errorf("invalid --segments %d: must be between 1 and %d", c.Segments, assemble.MaxSegments)
	case c.Count < 0:
		return fmt.Errorf("invalid --count %d: must be >= 0 (0: no limit)", c.Count)
	case c.BatchTimeout < 0:
		return fmt.Errorf("invalid --batch-timeout %v: must be >= 0 (0: wait for the partitions)", c.BatchTimeout)
	case c.SessionTimeout < time.Second:
		return fmt.Errorf("invalid --session-timeout %v: must be >= 1s (brokers usually want >= 6s)", c.SessionTimeout)
	case c.CommitInterval <= 0:
		return fmt.Errorf("invalid --commit-interval %v: must be > 0", c.CommitInterval)
	case c.Memory < MinMemory:
		return fmt.Errorf("invalid --memory %s: must be at least %s", FormatBytes(c.Memory), FormatBytes(MinMemory))
	case c.MaxRecordBytes < 1024:
		return fmt.Errorf("invalid max record size %d: must be >= 1024 bytes", c.MaxRecordBytes)
	case c.Topic == "":
		return errors.New("invalid --topic: must not be empty")
	case c.Group == "":
		return errors.New("invalid --group: must not be empty")
	case c.OutputTopic == c.Topic:
		return fmt.Errorf("invalid --output-topic %q: must differ from the input --topic", c.OutputTopic)
	case c.Stage == StageRepartition:
		return c.validateRepartition()
	case c.Sink == nil && c.OutputTopic == "":
		return errors.New("nothing to write to: give --out-file, --output-topic or keep the console")
	}
	return nil
}
