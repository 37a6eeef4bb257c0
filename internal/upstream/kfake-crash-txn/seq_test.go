package kfakecrashtxn

import (
	"context"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// batch encodes one idempotent record batch of a record.
func batch(pid int64, epoch int16, seq int32) []byte {
	rec := kmsg.Record{Value: []byte("v")}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, ProducerID: pid, ProducerEpoch: epoch,
		FirstSequence: seq, NumRecords: 1, Records: rec.AppendTo(nil),
		FirstTimestamp: 1, MaxTimestamp: 1,
	}
	enc := b.AppendTo(nil)
	b.Length = int32(len(enc) - 12)
	b.CRC = int32(crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(nil)
}

func produce(t *testing.T, cl *kgo.Client, part int32, pid int64, epoch int16, seq int32) (int64, error) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = part, batch(pid, epoch, seq)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.BaseOffset, kerr.ErrorForCode(p.ErrorCode)
}

// An idempotent producer's sequence numbers are not rebuilt from the log
// when a crashed kfake replays its data dir: a retry of a batch already in
// the log is appended again, and a batch after a gap is accepted. Kafka
// rebuilds each producer's last sequence numbers from the log on recovery
// and answers the first with the original offset, the second with
// OUT_OF_ORDER_SEQUENCE_NUMBER; a client that retries in-flight batches
// across the restart then keeps its records in order and once.
func TestCrashLosesIdempotentProducerState(t *testing.T) {
	dir := t.TempDir()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.MaxVersions(kversion.V3_8_0())) // produce by topic name
	if err != nil {
		t.Fatal(err)
	}
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionTimeoutMillis = 60000
	iresp, err := init.RequestWith(context.Background(), cl)
	if err != nil || iresp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %d", err, iresp.ErrorCode)
	}
	pid, epoch := iresp.ProducerID, iresp.ProducerEpoch
	for part := int32(0); part < 2; part++ {
		if _, err := produce(t, cl, part, pid, epoch, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Before a crash, kfake answers as Kafka does.
	if off, err := produce(t, cl, 0, pid, epoch, 0); err != nil || off != 0 {
		t.Fatalf("a retry before the crash: offset %d, %v; want 0 (the original)", off, err)
	}
	cl.Close()
	crashed := crashImage(t, dir)
	c.Close()

	c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(crashed))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err = kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.MaxVersions(kversion.V3_8_0())) // produce by topic name
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	off, err := produce(t, cl, 0, pid, epoch, 0)
	t.Logf("after the crash, a retry of the batch at offset 0: offset %d, %v", off, err)
	if err != nil || off != 0 {
		t.Errorf("the retry was appended again at %d (err %v), want the original offset 0", off, err)
	}
	off, err = produce(t, cl, 1, pid, epoch, 5)
	t.Logf("after the crash, sequence 5 where 1 is next: offset %d, %v", off, err)
	if err == nil {
		t.Errorf("a batch after a sequence gap was accepted at %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", off)
	}
}
