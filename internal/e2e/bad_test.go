package e2e

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
)

// Bad records never stop the consumer nor cost a good batch: each lands in
// <topic>.dlq unchanged, with its reason and source in headers.
func TestBadRecordsGoToTheDeadLetterTopic(t *testing.T) {
	c := cluster(t, "")
	cl := rawWriter(t, c, "segment-topic", 2)
	// Three batches of two segments on two partitions; bad records among
	// them, and batch 1 never gets its segment 1.
	recs := []struct {
		p int32
		v string
	}{
		{0, `{"batch_id":0,"segment_id":0,"segments":2,"data":[1,4]}`},
		{1, `{"batch_id":0,"segment_id":1,"segments":2,"data":[2,3]}`},
		{0, `not json at all`},
		{1, `{"batch_id":0,"segment_id":1,"segments":2,"data":[2,3]}`}, // identical retry: dropped
		{0, `{"batch_id":1,"segment_id":0,"segments":2,"data":[5]}`},
		{1, `{"batch_id":2,"segment_id":5,"segments":2,"data":[1]}`},   // segment outside
		{1, `{"batch_id":2,"segment_id":1,"segments":2,"data":[3,1]}`}, // unsorted
		{1, `{"batch_id":2,"segment_id":1,"segments":2,"data":[7]}`},
		{0, `{"batch_id":2,"segment_id":0,"segments":2,"data":[6]}`},
		{0, `{"batch_id":2,"segment_id":0,"segments":2,"data":[9]}`}, // conflicting copy
		{0, `{"batch_id":3,"segment_id":0,"segments":2,"data":[]}`},
		{1, `{"batch_id":3,"segment_id":1,"segments":2,"data":[8]}`},
		{0, `{"batch_id":1.5,"segment_id":0,"data":[]}`}, // not an integer
	}
	for _, r := range recs {
		if err := cl.ProduceSync(ctx(t), &kgo.Record{Topic: "segment-topic", Partition: r.p, Value: []byte(r.v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	out, st := consume(t, c, func(cfg *consumer.Config) { cfg.Segments = 2 })
	body, _ := os.ReadFile(out)
	want := `{"batch_id":0,"data":[1,2,3,4]}` + "\n" + `{"batch_id":2,"data":[6,7]}` + "\n" + `{"batch_id":3,"data":[8]}` + "\n"
	if string(body) != want {
		t.Fatalf("output:\n%s\nwant:\n%s", body, want)
	}
	if st.Bad != 5 || st.Duplicates != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v: want 5 bad, 1 duplicate, 1 dropped batch", st)
	}

	// The dead-letter topic: the 5 bad records plus batch 1's segment.
	got := map[string]string{}
	for _, d := range deadLetters(t, c.Addrs(), "segment-topic.dlq", 6) {
		got[d.value] = d.reason + "|" + d.source + "|" + d.err
	}
	for value, reason := range map[string]string{
		`not json at all`: "not-json|segment-topic/0@1|",
		`{"batch_id":2,"segment_id":5,"segments":2,"data":[1]}`:   "segment-out-of-range|segment-topic/1@2|",
		`{"batch_id":2,"segment_id":1,"segments":2,"data":[3,1]}`: "unsorted|segment-topic/1@3|",
		`{"batch_id":2,"segment_id":0,"segments":2,"data":[9]}`:   "conflicting-duplicate|segment-topic/0@4|",
		`{"batch_id":1,"segment_id":0,"segments":2,"data":[5]}`:   "incomplete-batch|segment-topic/0@2|batch 1 is final without segments [1]",
		`{"batch_id":1.5,"segment_id":0,"data":[]}`:               "not-integer|segment-topic/0@6|",
	} {
		if !strings.HasPrefix(got[value], reason) {
			t.Errorf("dead letter %s: headers %q, want prefix %q", value, got[value], reason)
		}
	}
	if len(got) != 6 {
		t.Errorf("dead-letter topic holds %d distinct records, want 6: %v", len(got), got)
	}
}

// From the beginning of a log nothing precedes the start, so a broken first
// batch is the producer's fault (dead-lettered), not cut by the start; and a
// batch still incomplete when -e ends is reported as pending.
func TestBrokenFirstBatchAndPendingAtEnd(t *testing.T) {
	c := cluster(t, "")
	cl := rawWriter(t, c, "segment-topic", 2)
	for _, r := range []struct {
		p int32
		v string
	}{
		{0, `{"batch_id":0,"segment_id":0,"data":[1]}`}, // batch 0 never gets segment 1
		{0, `{"batch_id":1,"segment_id":0,"data":[2]}`},
		{1, `{"batch_id":1,"segment_id":1,"data":[3]}`},
		{0, `{"batch_id":2,"segment_id":0,"data":[4]}`}, // batch 2: segment 1 not yet written
	} {
		if err := cl.ProduceSync(ctx(t), &kgo.Record{Topic: "segment-topic", Partition: r.p, Value: []byte(r.v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	_, st := consume(t, c, func(cfg *consumer.Config) { cfg.Segments = 2 })
	if st.Batches != 1 || st.Dropped != 1 || st.Cut != 0 || st.Pending != 1 {
		t.Fatalf("stats %+v: want batch 1 written, batch 0 dead-lettered (not cut), batch 2 pending", st)
	}
}

// rawWriter creates topic with partitions partitions and returns a client
// that writes records exactly as given, to the partition each names: the
// way to put bad records, or records in an odd order, into a topic.
func rawWriter(t *testing.T, c *broker.Cluster, topic string, partitions int32) *kgo.Client {
	t.Helper()
	cl, err := kafka.Cluster{Brokers: c.Addrs()}.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, _, err := kafka.EnsureTopic(ctx(t), kadm.NewClient(cl), slog.New(slog.DiscardHandler), topic, partitions, false); err != nil {
		t.Fatal(err)
	}
	return cl
}
