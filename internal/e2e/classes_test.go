package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
)

type rec struct {
	p int32
	v string
}

// One test per class of bad record: the bad record lands in <topic>.dlq
// with its reason, every good batch is written, the consumer does not stop.
// Batches have 2 segments on 2 partitions (segment s on partition s).
func TestEachBadRecordClass(t *testing.T) {
	good0 := []rec{{0, `{"batch_id":0,"segment_id":0,"data":[1,5]}`}, {1, `{"batch_id":0,"segment_id":1,"data":[2]}`}}
	good1 := []rec{{0, `{"batch_id":1,"segment_id":0,"data":[3]}`}, {1, `{"batch_id":1,"segment_id":1,"data":[4]}`}}
	const out01 = `{"batch_id":0,"data":[1,2,5]}` + "\n" + `{"batch_id":1,"data":[3,4]}` + "\n"
	tests := []struct {
		name    string
		recs    []rec
		reason  string // of the one dead letter expected
		want    string // output
		timeout time.Duration
		count   int64
	}{
		{"not JSON", []rec{good0[0], good0[1], {0, `{"batch_id":1,`}, good1[0], good1[1]}, "not-json", out01, 0, 0},
		{"missing field", []rec{good0[0], good0[1], {0, `{"batch_id":1,"data":[3]}`}, good1[0], good1[1]}, "missing-field", out01, 0, 0},
		{"mistyped field", []rec{good0[0], good0[1], {1, `{"batch_id":"1","segment_id":1,"data":[4]}`}, good1[0], good1[1]}, "wrong-type", out01, 0, 0},
		{"non-integer value", []rec{good0[0], good0[1], {0, `{"batch_id":1,"segment_id":0,"data":[1,"2"]}`}, good1[0], good1[1]}, "wrong-type", out01, 0, 0},
		{"fractional value", []rec{good0[0], good0[1], {0, `{"batch_id":1,"segment_id":0,"data":[2.5]}`}, good1[0], good1[1]}, "not-integer", out01, 0, 0},
		{"out of int64", []rec{good0[0], good0[1], {0, `{"batch_id":1,"segment_id":0,"data":[9223372036854775808]}`}, good1[0], good1[1]}, "out-of-range", out01, 0, 0},
		{"unsorted", []rec{good0[0], good0[1], {0, `{"batch_id":1,"segment_id":0,"data":[3,1]}`}, good1[0], good1[1]}, "unsorted", out01, 0, 0},
		{"segment outside the batch", []rec{good0[0], good0[1], {0, `{"batch_id":1,"segment_id":2,"data":[3]}`}, good1[0], good1[1]}, "segment-out-of-range", out01, 0, 0},
		{"a billion segments", []rec{good0[0], good0[1], {1, `{"batch_id":1,"segment_id":1,"segments":1000000000,"data":[4]}`}, good1[0], good1[1]}, "too-many-segments", out01, 0, 0},
		{"conflicting duplicate", []rec{good0[0], good0[1], good1[0], {0, `{"batch_id":1,"segment_id":0,"data":[9]}`}, good1[1]}, "conflicting-duplicate", out01, 0, 0},
		{"identical duplicate is dropped, not dead-lettered", []rec{good0[0], good0[1], good0[1], good1[0], good1[1]}, "", out01, 0, 0},
		{"backwards in its partition", []rec{good0[0], good0[1], good1[0], good1[1], {0, `{"batch_id":0,"segment_id":0,"data":[7]}`}}, "backwards", out01, 0, 0},
		{"final while incomplete", []rec{{0, `{"batch_id":0,"segment_id":0,"data":[1,5]}`}, good1[0], good1[1]}, "incomplete-batch", `{"batch_id":1,"data":[3,4]}` + "\n", 0, 0},
		// Partition 1 never moves past batch 0 (batch 1 has one segment,
		// on partition 0): only --batch-timeout makes batch 0 final.
		{"incomplete past --batch-timeout", []rec{{0, `{"batch_id":0,"segment_id":0,"data":[1,5]}`}, {0, `{"batch_id":1,"segment_id":0,"segments":1,"data":[3]}`}}, "incomplete-batch", `{"batch_id":1,"data":[3]}` + "\n", 300 * time.Millisecond, 1},
	}
	c := cluster(t, "")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := "class-" + string(rune('a'+i))
			cl := rawWriter(t, c, topic, 2)
			for _, r := range tt.recs {
				if err := cl.ProduceSync(ctx(t), &kgo.Record{Topic: topic, Partition: r.p, Value: []byte(r.v)}).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			out, st := consume(t, c, func(cfg *consumer.Config) {
				cfg.Topic, cfg.Group, cfg.Segments, cfg.BatchTimeout = topic, "g-"+topic, 2, tt.timeout
				if tt.count > 0 {
					cfg.ExitAtEnd, cfg.Count = false, tt.count
				}
			})
			body, _ := os.ReadFile(out)
			if string(body) != tt.want {
				t.Fatalf("output:\n%s\nwant:\n%s\nstats %+v", body, tt.want, st)
			}
			wantDeadLetter(t, c.Addrs(), topic+".dlq", tt.reason)
		})
	}
}

// deadLetter is a record of a dead-letter topic, with its headers read.
type deadLetter struct {
	value, reason, source, err, group string
}

// deadLetters reads topic until it has want records, for up to 30s; with
// want 0 it reads until a second passes with nothing new.
// wantDeadLetter fails t unless topic holds one dead letter with reason, or
// none if reason is empty.
func wantDeadLetter(t *testing.T, brokers []string, topic, reason string) {
	t.Helper()
	want := 0
	if reason != "" {
		want = 1
	}
	dead := deadLetters(t, brokers, topic, want)
	if len(dead) != want || want == 1 && dead[0].reason != reason {
		t.Fatalf("dead letters %+v, want %d with reason %q", dead, want, reason)
	}
}

func deadLetters(t *testing.T, brokers []string, topic string, want int) []deadLetter {
	t.Helper()
	// read_committed: a transactional consumer's aborted attempts do not count.
	rd, err := kafka.Cluster{Brokers: brokers}.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got []deadLetter
	deadline := time.Now().Add(30 * time.Second)
	for more := true; more; {
		pctx, cancel := context.WithTimeout(ctx(t), time.Second)
		fs := rd.PollFetches(pctx)
		cancel()
		// Read on while records come (want 0: until a quiet second),
		// or until want arrived.
		more = time.Now().Before(deadline) && (want > 0 && len(got)+fs.NumRecords() < want || want == 0 && fs.NumRecords() > 0)
		fs.EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			got = append(got, deadLetter{string(r.Value), h[consumer.HeaderReason], h[consumer.HeaderSource], h[consumer.HeaderError], h[consumer.HeaderGroup]})
		})
	}
	return got
}
