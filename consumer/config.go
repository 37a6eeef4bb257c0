package consumer

import (
	"errors"
	"fmt"
	"log/slog"
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

// Config is a consumer run; start from DefaultConfig. Validate's errors name the command-line flag
// that sets each field.
type Config struct {
	Brokers []string
	Topic   string // default "segment-topic"
	Group   string // default "segmerge"
	Mode    string // default ModeSimple
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
	// output topic, the dead letters and the input offsets atomically;
	// default "segmerge-<group>-<topic>". Stable across restarts, so a
	// restarted consumer fences its crashed predecessor's transaction.
	TransactionalID string
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
	// set (the command sets it to this).
	Memory   int64
	Log      *slog.Logger
	Counters *progress.Counters
}

// DefaultConfig returns the defaults: topic segment-topic, group segmerge,
// simple mode, 10 segments a batch, commits every second, output records of
// at most 512 KiB.
func DefaultConfig() Config {
	return Config{
		Topic:          "segment-topic",
		Group:          "segmerge",
		Mode:           ModeSimple,
		Segments:       10,
		CommitInterval: time.Second,
		SessionTimeout: 10 * time.Second,
		MaxRecordBytes: 512 << 10,
		Memory:         DefaultMemory,
	}
}

// transactional reports whether output goes through Kafka transactions:
// with an output topic, in the modes where one member owns every partition
// (scalable mode splits a batch's offsets over several members, which one
// transaction cannot span).
func (c *Config) transactional() bool {
	return c.OutputTopic != "" && c.Mode != ModeScalable
}

// txnID returns the transactional id to use.
func (c *Config) txnID() string {
	if c.TransactionalID != "" {
		return c.TransactionalID
	}
	return "segmerge-" + c.Group + "-" + c.Topic
}

// Validate rejects settings that make no sense, naming the flag at fault.
func (c *Config) Validate() error {
	switch {
	case c.Mode != ModeSimple && c.Mode != ModeScalable && c.Mode != ModeConcurrent:
		return fmt.Errorf("invalid --mode %q: must be simple, scalable or concurrent", c.Mode)
	case c.Consumers < 0:
		return fmt.Errorf("invalid --consumers %d: must be >= 1 (or 0: one per partition)", c.Consumers)
	case c.Consumers > 0 && c.Mode != ModeScalable:
		return fmt.Errorf("invalid --consumers %d: only --mode scalable runs several group members", c.Consumers)
	case c.Segments < 1:
		return fmt.Errorf("invalid --segments %d: must be >= 1", c.Segments)
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
	case c.Sink == nil && c.OutputTopic == "":
		return errors.New("nothing to write to: give --out-file, --output-topic or keep the console")
	}
	return nil
}
