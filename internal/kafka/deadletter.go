package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/setting"
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
	// HeaderTruncated says a dead letter's value is cut short: the record
	// was too large for the dead-letter topic. HeaderSize is the value's
	// size in bytes before the cut, and HeaderSource says where the whole
	// record stays.
	HeaderTruncated = "segmerge.truncated"
	HeaderSize      = "segmerge.size"
)

// maxHeader bounds the error message a dead letter carries.
const maxHeader = 1 << 10

// clip cuts s to at most n bytes, saying how much it cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	more := fmt.Sprintf(" ... (%d bytes more)", len(s)-n)
	return s[:n-len(more)] + more
}

// Source says where r was read: topic/partition@offset.
func Source(r *kgo.Record) string {
	return r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "@" + strconv.FormatInt(r.Offset, 10)
}

// DeadLetters forwards refused records, unchanged, to a dead-letter topic
// (<topic>.dlq), with headers saying why and where they came from; it
// creates the topic on first use, with the input's partition count and
// max.message.bytes, so that it can take whatever the input holds. A record
// too large for it all the same (a dead-letter topic made by hand with a
// smaller limit) goes as a truncated copy, HeaderTruncated and HeaderSize
// saying so: a dead letter never stops the run.
type DeadLetters struct {
	p       *Producer
	adm     *kadm.Client
	log     *slog.Logger
	group   string
	topic   string
	parts   int32
	copied  int     // the input's max.message.bytes, which the topic is made from
	limits  *Limits // the topics' limits, which bound p's client's batches
	max     int     // what a dead letter may take: the topic's limit less slack
	ensured bool
}

// NewDeadLetters returns the dead letters of group reading input, written
// through p to input.dlq, which has parts partitions and is made from
// input's limit inputMax (see Copied) if it is created. The dead-letter
// topic's limit is learnt into limits, which p's client must bound its
// batches with (Limits.Opt).
func NewDeadLetters(p *Producer, adm *kadm.Client, log *slog.Logger, group, input string, parts int32, inputMax int, limits *Limits) *DeadLetters {
	return &DeadLetters{p: p, adm: adm, log: log, group: group, topic: input + ".dlq", parts: parts, copied: inputMax, limits: limits}
}

// Topic is the dead-letter topic's name.
func (d *DeadLetters) Topic() string { return d.topic }

// Send forwards r with reason (a stable code) and msg (for people, cut to
// 1 KiB, any {Field} in it named plainly). The record is delivered by the
// next Flush of the producer. The caller logs what it refused.
func (d *DeadLetters) Send(ctx context.Context, r *kgo.Record, reason, msg string) error {
	if !d.ensured {
		if _, _, err := EnsureTopicWith(ctx, d.adm, d.log, d.topic, d.parts, Copied(d.copied), false); err != nil {
			return fmt.Errorf("dead-letter topic: %w", err)
		}
		if _, err := d.limits.Learn(ctx, d.adm, d.topic); err != nil {
			return fmt.Errorf("dead-letter topic: %w", err)
		}
		d.max, d.ensured = int(d.limits.Batch(d.topic)), true
	}
	src := Source(r)
	msg = clip(setting.Names(msg, nil), maxHeader)
	dl := &kgo.Record{
		Topic: d.topic,
		Key:   r.Key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
			kgo.RecordHeader{Key: HeaderReason, Value: []byte(reason)},
			kgo.RecordHeader{Key: HeaderError, Value: []byte(msg)},
			kgo.RecordHeader{Key: HeaderSource, Value: []byte(src)},
			kgo.RecordHeader{Key: HeaderGroup, Value: []byte(d.group)},
		),
	}
	d.fit(dl)
	d.p.Produce(dl)
	return nil
}

// batchSlack is what a record batch takes beyond its records' keys,
// values and headers (the batch header, each record's and header's
// lengths), with room to spare.
const batchSlack = 1 << 10

// fit cuts dl's value, and if need be its copied headers, to what the
// topic takes, and says so in its headers.
func (d *DeadLetters) fit(dl *kgo.Record) {
	size := func() int {
		n := batchSlack + len(dl.Key) + len(dl.Value)
		for _, h := range dl.Headers {
			n += len(h.Key) + len(h.Value)
		}
		return n
	}
	over := size() - d.max
	if over <= 0 {
		return
	}
	orig := len(dl.Value)
	if over > len(dl.Value) {
		// The value alone cannot make room: the record's own headers
		// go too (ours are the last four, and short).
		dl.Headers = dl.Headers[len(dl.Headers)-4:]
		over = size() - d.max
	}
	dl.Value = dl.Value[:max(0, len(dl.Value)-over-64)]
	dl.Headers = append(dl.Headers,
		kgo.RecordHeader{Key: HeaderTruncated, Value: []byte("true")},
		kgo.RecordHeader{Key: HeaderSize, Value: []byte(strconv.Itoa(orig))},
	)
	d.log.Warn("a dead letter is too large for the dead-letter topic: a truncated copy goes instead, its headers say so and where the record stays",
		"topic", d.topic, "size", orig, "limit", d.max)
}
