package status_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/status"
)

// Dead letters in an aborted transaction are not counted, those still in
// an open one are not either (read_committed stops before them), and the
// read ends at the topic's committed end rather than waiting for more;
// another group's are counted apart.
func TestDeadLettersCountedReadCommitted(t *testing.T) {
	c, err := broker.Start(broker.Config{Listen: []string{"127.0.0.1:0"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cluster := kafka.Cluster{Brokers: c.Addrs()}
	cl, err := cluster.Client(kgo.TransactionalID("status-test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"in", "in.dlq"} {
		if _, err := adm.CreateTopic(ctx, 2, -1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	dead := func(p int32, group, reason string) *kgo.Record {
		return &kgo.Record{Topic: "in.dlq", Partition: p, Value: []byte("x"), Headers: []kgo.RecordHeader{
			{Key: kafka.HeaderReason, Value: []byte(reason)}, {Key: kafka.HeaderGroup, Value: []byte(group)}}}
	}
	txn := func(end string, recs ...*kgo.Record) { // end: commit, abort or open
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if end != "open" {
			if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(end == "commit")); err != nil {
				t.Fatal(err)
			}
		}
	}
	txn("commit", dead(0, "g", "not-json"), dead(1, "g", "unsorted"), dead(1, "g", "unsorted"), dead(0, "other", "late"))
	txn("abort", dead(0, "g", "aborted"), dead(1, "g", "aborted"))
	txn("commit", dead(1, "g", "late"))
	// Committed offsets, so that the group exists.
	if _, err := kadm.NewClient(cl).CommitOffsets(ctx, "g", kadm.OffsetsFromRecords(kgo.Record{Topic: "in", Partition: 0, Offset: 0})); err != nil {
		t.Fatal(err)
	}
	rep, err := status.Read(ctx, status.Config{Cluster: cluster, Group: "g", Topic: "in", DeadLetters: true})
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Topics[0].DeadLetters
	want := map[string]int64{"not-json": 1, "unsorted": 2, "late": 1}
	if !d.Complete || d.Total != 4 || d.Others != 1 || len(d.ByReason) != len(want) {
		t.Fatalf("dead letters %+v, want %v and 1 from another group", d, want)
	}
	for r, n := range want {
		if d.ByReason[r] != n {
			t.Fatalf("by reason %v, want %v", d.ByReason, want)
		}
	}
	if p := rep.Topics[0].Partitions; p[0].Committed != 1 || p[1].Committed != -1 || rep.Topics[0].Uncommitted != 1 || rep.Topics[0].HasLowest {
		t.Fatalf("partitions %+v: want partition 0 committed at 1, partition 1 not, no lowest batch", p)
	}

	// A transaction left open: its dead letter is not counted, and the
	// read does not wait for it.
	txn("open", dead(0, "g", "open"))
	start := time.Now()
	rep, err = status.Read(ctx, status.Config{Cluster: cluster, Group: "g", Topic: "in", DeadLetters: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Topics[0].DeadLetters; !d.Complete || d.Total != 4 || d.ByReason["open"] != 0 {
		t.Fatalf("with a transaction open: %+v", d)
	}
	t.Logf("read with a transaction open in %v", time.Since(start).Round(time.Millisecond))
}
