//go:build unix

package kafka

import (
	"context"
	"encoding/binary"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/segmerge/segmerge/gen"
	"github.com/segmerge/segmerge/wire"
)

// BenchmarkFetchPath reads a topic of small seed-shaped records and
// decodes every value, two ways: through franz-go's consumer (PollFetches,
// a kgo.Record per record), and by sending the same fetch requests on the
// client's connection and walking the record batches of each response in
// place (franz-go's own decompressor, no struct per record). The second
// is about what a consumer that owned its record path would pay, and the
// gap between the two about what franz-go's record handling costs over
// seed (decoding is the same in both; the fetch requests differ in
// sessions and in when they are sent). It is measured, not used: the
// consumer reads through PollFetches, and the walk below is only as
// general as this topic needs (v2 batches; it passes over transaction
// markers but does not drop aborted records).
func BenchmarkFetchPath(b *testing.B) {
	const partitions, batches = 10, 20_000
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "seed"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	want := produceSeed(b, c.ListenAddrs(), partitions, batches)
	for _, way := range []struct {
		name string
		read func(*testing.B) valueSum
	}{
		{"poll", func(b *testing.B) valueSum { return readPolled(b, c.ListenAddrs(), want.records) }},
		{"in-place", func(b *testing.B) valueSum { return readInPlace(b, c.ListenAddrs(), partitions) }},
	} {
		b.Run(way.name, func(b *testing.B) {
			runtime.GC() // neither way pays for the producer's or the other's garbage
			cpu := processCPU()
			for b.Loop() {
				if got := way.read(b); got.records != want.records || got.sum != want.sum {
					b.Fatalf("read %d records, values summing to %d; want %d and %d", got.records, got.sum, want.records, want.sum)
				}
			}
			// The broker runs in this process: its CPU is in both.
			n := float64(b.N * want.records)
			b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/n, "cpu-ns/record")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
		})
	}
}

// processCPU is this process's user and system CPU so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// produceSeed writes batches of the seed shape, segment s to partition s,
// snappy-compressed, and returns the records written and their values' sum.
func produceSeed(b *testing.B, addrs []string, partitions int, batches int64) (want valueSum) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	spec := gen.Spec{Segments: partitions, MinLen: 10, MaxLen: 20, MinValue: 1, MaxValue: 10, Seed: 1}
	var (
		g    gen.Segment
		vals []int64
		rs   []*kgo.Record
	)
	for id := range batches {
		for s, l := range spec.Batch(id, nil) {
			g.Reset(spec, id, int64(s), l)
			vals = g.Fill(vals[:0], l)
			for _, v := range vals {
				want.sum += v
			}
			seg := wire.Segment{BatchID: id, SegmentID: int64(s), Last: true, Data: vals}
			rs = append(rs, &kgo.Record{Topic: "seed", Partition: int32(s), Value: wire.AppendSegment(nil, &seg)})
		}
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	want.records = len(rs)
	return want
}

// readPolled reads every record of the topic with PollFetches, decoding
// each value.
func readPolled(b *testing.B, addrs []string, records int) valueSum {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("seed"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var v valueSum
	for v.records < records {
		fs := cl.PollFetches(context.Background())
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { v.add(b, r.Value) })
	}
	return v
}

// readInPlace sends fetch requests for every partition to the broker until
// each is read to its high watermark, and walks the responses in place.
func readInPlace(b *testing.B, addrs []string, partitions int) valueSum {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("seed")
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		b.Fatal(err)
	}
	id := mresp.Topics[0].TopicID
	next, high := make([]int64, partitions), make([]int64, partitions)
	for p := range high {
		high[p] = -1
	}
	dec := kgo.DefaultDecompressor()
	var v valueSum
	for {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes, req.SessionEpoch = -1, 10, 50<<20, -1
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = "seed", id
		for p := range partitions {
			if high[p] < 0 || next[p] < high[p] {
				fp := kmsg.NewFetchRequestTopicPartition()
				fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = int32(p), next[p], 1<<20
				fp.LogStartOffset, fp.CurrentLeaderEpoch = -1, -1
				t.Partitions = append(t.Partitions, fp)
			}
		}
		if len(t.Partitions) == 0 {
			return v
		}
		req.Topics = append(req.Topics, t)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			b.Fatal(err)
		}
		moved := false
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					b.Fatal(err)
				}
				was := next[rp.Partition]
				high[rp.Partition] = rp.HighWatermark
				next[rp.Partition] = walkBatches(b, dec, rp.RecordBatches, was, &v)
				moved = moved || next[rp.Partition] != was || high[rp.Partition] <= was
			}
		}
		if !moved {
			b.Fatal("a fetch moved no partition towards its high watermark") // not wait forever
		}
	}
}

// walkBatches decodes the value of every data record at or past from in v2
// record batches, and returns the offset after the last batch walked.
// Control batches (transaction markers) and null values are passed over.
func walkBatches(b *testing.B, dec kgo.Decompressor, bs []byte, from int64, v *valueSum) int64 {
	const header = 61 // base offset to record count
	for len(bs) >= header {
		base := int64(binary.BigEndian.Uint64(bs))
		end := 12 + int(binary.BigEndian.Uint32(bs[8:]))
		if end > len(bs) {
			break // a partial batch at the response's end
		}
		batch := bs[:end]
		bs = bs[end:]
		if batch[16] != 2 {
			b.Fatalf("record batch of magic %d", batch[16])
		}
		attrs := binary.BigEndian.Uint16(batch[21:])
		last := base + int64(binary.BigEndian.Uint32(batch[23:]))
		n := int(binary.BigEndian.Uint32(batch[57:]))
		recs := batch[header:]
		if attrs&0x20 != 0 { // a control batch
			from = last + 1
			continue
		}
		if codec := kgo.CompressionCodecType(attrs & 7); codec != kgo.CodecNone {
			var err error
			if recs, err = dec.Decompress(recs, codec); err != nil {
				b.Fatal(err)
			}
		}
		for range n {
			size, k := binary.Varint(recs)
			rec := recs[k : k+int(size)]
			recs = recs[k+int(size):]
			i := 1                        // past the attributes
			_, k = binary.Varint(rec[i:]) // timestamp delta
			i += k
			delta, k := binary.Varint(rec[i:])
			i += k
			keyLen, k := binary.Varint(rec[i:])
			i += k + int(max(keyLen, 0))
			valLen, k := binary.Varint(rec[i:])
			i += k
			if valLen >= 0 && base+delta >= from {
				v.add(b, rec[i:i+int(valLen)])
			}
		}
		from = last + 1
	}
	return from
}

// valueSum decodes values, and counts them and sums what they hold.
type valueSum struct {
	dec     wire.Decoder
	seg     wire.Segment
	buf     []int64
	records int
	sum     int64
}

func (v *valueSum) add(b *testing.B, value []byte) {
	if v.buf == nil {
		v.buf = make([]int64, 0, 4096)
	}
	if err := v.dec.DecodeInto(value, &v.seg, v.buf); err != nil {
		b.Fatal(err)
	}
	for _, x := range v.seg.Data {
		v.sum += x
	}
	v.records++
}
