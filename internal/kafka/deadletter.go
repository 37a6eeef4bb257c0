package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers segmerge writes: why a dead letter was refused and where it came
// from, and where a repartitioned record was read.
const (
	HeaderReason = "segmerge.reason" // a stable code (wire or assemble Reason*)
	HeaderError  = "segmerge.error"  // the human message
	HeaderSource = "segmerge.source" // topic/partition@offset
	// HeaderGroup names the consumer group that refused the record: every
	// group reading a topic dead-letters its bad records on its own.
	HeaderGroup = "segmerge.group"
	// HeaderPartitions is the source topic's partition count, which the
	// repartition stage adds beside HeaderSource to every record it
	// forwards: it numbers the merge stage's lanes.
	HeaderPartitions = "segmerge.partitions"
)

// Source says where r was read: topic/partition@offset.
func Source(r *kgo.Record) string {
	return r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "@" + strconv.FormatInt(r.Offset, 10)
}

// DeadLetters forwards refused records, unchanged, to a dead-letter topic
// (<topic>.dlq), with headers saying why and where they came from; it
// creates the topic on first use, with the input's partition count.
type DeadLetters struct {
	p       *Producer
	adm     *kadm.Client
	log     *slog.Logger
	group   string
	topic   string
	parts   int32
	ensured bool
}

// NewDeadLetters returns the dead letters of group reading input, written
// through p to input.dlq, which has parts partitions if it is created.
func NewDeadLetters(p *Producer, adm *kadm.Client, log *slog.Logger, group, input string, parts int32) *DeadLetters {
	return &DeadLetters{p: p, adm: adm, log: log, group: group, topic: input + ".dlq", parts: parts}
}

// Topic is the dead-letter topic's name.
func (d *DeadLetters) Topic() string { return d.topic }

// Send forwards r with reason (a stable code) and msg (for people), and
// logs one line. The record is delivered by the next Flush of the
// producer.
func (d *DeadLetters) Send(ctx context.Context, r *kgo.Record, reason, msg string) error {
	if !d.ensured {
		if _, _, err := EnsureTopic(ctx, d.adm, d.log, d.topic, d.parts, false); err != nil {
			return fmt.Errorf("dead-letter topic: %w", err)
		}
		d.ensured = true
	}
	src := Source(r)
	d.log.Warn("bad record", "source", src, "reason", reason, "err", msg)
	d.p.Produce(&kgo.Record{
		Topic: d.topic,
		Key:   r.Key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
			kgo.RecordHeader{Key: HeaderReason, Value: []byte(reason)},
			kgo.RecordHeader{Key: HeaderError, Value: []byte(msg)},
			kgo.RecordHeader{Key: HeaderSource, Value: []byte(src)},
			kgo.RecordHeader{Key: HeaderGroup, Value: []byte(d.group)},
		),
	})
	return nil
}
