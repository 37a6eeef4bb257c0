package stream

import (
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/budget"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/internal/setting"
	"github.com/segmerge/segmerge/metrics"
)

// Config is a stream run; start from DefaultConfig. Validate's errors name
// the field at fault.
type Config struct {
	Brokers []string
	// ClientOpts are franz-go options every client of the run takes
	// after segmerge's own: TLS, SASL, tunables.
	ClientOpts []kgo.Opt
	// MemberOpts are franz-go options only the group member's client
	// takes, after ClientOpts.
	MemberOpts []kgo.Opt
	// Topic is the topic to read; it must be set.
	Topic string
	// By is the key every partition is sorted by: ByTimestamp (the
	// default), or "field:NAME" for an integer field of a JSON object.
	By string
	// Group is the run's consumer group; default "segmerge-stream".
	Group string
	// OutputTopic receives each record unchanged, with HeaderSource
	// added, on one partition: OutputPartition, or the topic's only one.
	// A missing topic is created with one partition.
	OutputTopic string
	// OutputPartition is the partition of OutputTopic written; -1 (the
	// default): the topic must have one partition.
	OutputPartition int32
	// OutFile receives each record's value as a line. Exactly one of
	// OutputTopic and OutFile must be set.
	OutFile string
	// FromBeginning starts a group with no committed offset at the start
	// of the topic rather than its end.
	FromBeginning bool
	// ExitAtEnd stops once every partition has reached the end offset read
	// at start and everything before it is written and committed.
	ExitAtEnd bool
	// IdleTimeout is how long a partition that has read up to its end
	// must have received nothing before the stream goes on without it;
	// negative: wait forever. Default 1s.
	IdleTimeout time.Duration
	// TransactionalID names the transactional producer; default
	// "segmerge-stream-<group>-<topic>-<host>-<pid>-<random>", new for
	// every process, so that a standby never fences the owner.
	TransactionalID string
	// TransactionTimeout is how long the broker lets a transaction stay
	// open; default 20s.
	TransactionTimeout time.Duration
	// SessionTimeout is how long the group waits for a silent member
	// before a standby takes over; default 10s.
	SessionTimeout time.Duration
	// CommitInterval is how often a transaction commits, when there is
	// anything to commit: about how long a record written waits before
	// read_committed readers see it. Default 100ms, as the merge stage's.
	CommitInterval time.Duration
	// Memory is the run's memory budget in bytes (see package budget);
	// default 512 MiB.
	Memory int64
	// Log receives the run's log lines; default none.
	Log *slog.Logger
	// Metrics, if set, counts what the run does as it goes.
	Metrics *metrics.Run
}

// ByTimestamp is Config.By for the record's Kafka timestamp, in
// milliseconds.
const ByTimestamp = "timestamp"

// byField prefixes Config.By for an integer field of a JSON object.
const byField = "field:"

// DefaultGroup is Config.Group's default.
const DefaultGroup = "segmerge-stream"

// DefaultConfig returns the defaults: keys by timestamp, group
// segmerge-stream, a 1s idle timeout, commits every 100ms, a 10s
// session, transactions of at most 20s, a 512 MiB memory budget.
func DefaultConfig() Config {
	return Config{
		By:                 ByTimestamp,
		Group:              DefaultGroup,
		OutputPartition:    -1,
		IdleTimeout:        time.Second,
		CommitInterval:     100 * time.Millisecond,
		SessionTimeout:     10 * time.Second,
		TransactionTimeout: 20 * time.Second,
		Memory:             budget.Default,
	}
}

// field is the JSON field By names, "" for the timestamp.
func (c *Config) field() string { return strings.TrimPrefix(c.By, byField) }

// Validate rejects settings that make no sense, naming the field at fault
// (a *setting.Error).
func (c *Config) Validate() error {
	switch {
	case c.Topic == "":
		return setting.Invalid("Topic", "", "must be given: the topic to read")
	case c.Group == "":
		return setting.Invalid("Group", "", "must not be empty")
	case c.By != ByTimestamp && (!strings.HasPrefix(c.By, byField) || c.field() == ""):
		return setting.Invalid("By", c.By, "must be timestamp or field:NAME")
	case (c.OutputTopic == "") == (c.OutFile == ""):
		return setting.Invalid("OutputTopic", c.OutputTopic, "give exactly one of {OutputTopic} and {OutFile}")
	case c.OutputTopic == c.Topic:
		return setting.Invalid("OutputTopic", c.OutputTopic, "must differ from the input {Topic}")
	case c.OutputPartition < -1:
		return setting.Invalid("OutputPartition", c.OutputPartition, "must be >= 0")
	case c.OutputPartition >= 0 && c.OutputTopic == "":
		return setting.Invalid("OutputPartition", c.OutputPartition, "needs {OutputTopic}")
	case c.Memory < budget.Min:
		return setting.Invalid("Memory", budget.Format(c.Memory), "must be at least %s", budget.Format(budget.Min))
	}
	return kafka.CheckTimings(c.SessionTimeout, c.CommitInterval, c.TransactionTimeout, true)
}
