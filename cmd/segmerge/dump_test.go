package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// dumpTopic describes every partition of topic as the broker holds it: the
// high watermark, the last stable offset, and the log as runs of records
// per producer id and epoch, each ended by its control marker (or not). It
// is what a failed read_committed check needs to say where and why a read
// stopped.
func dumpTopic(brokers []string, topic string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	hwm, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return "list end offsets: " + err.Error()
	}
	lso, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return "list committed offsets: " + err.Error()
	}
	want := map[int32]kgo.Offset{}
	hwm.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	var b strings.Builder
	if len(want) == 0 {
		return "empty"
	}
	rc, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	recs := map[int32][]*kgo.Record{}
	pos := map[int32]int64{}
	done := func() bool {
		for p := range want {
			e, _ := hwm.Lookup(topic, p)
			if pos[p] < e.Offset {
				return false
			}
		}
		return true
	}
	for !done() && ctx.Err() == nil {
		fs := rc.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			recs[r.Partition] = append(recs[r.Partition], r)
			pos[r.Partition] = r.Offset + 1
		})
	}
	var parts []int32
	for p := range want {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		h, _ := hwm.Lookup(topic, p)
		l, _ := lso.Lookup(topic, p)
		stuck := ""
		if l.Offset < h.Offset {
			stuck = "  <-- LSO below HWM"
		}
		fmt.Fprintf(&b, "%s/%d: hwm %d lso %d read %d%s\n", topic, p, h.Offset, l.Offset, pos[p], stuck)
		type run struct {
			pid          int64
			epoch        int16
			first, last  int64
			n            int
			minID, maxID string
		}
		var cur *run
		flush := func(end string) {
			if cur != nil {
				fmt.Fprintf(&b, "    pid %d epoch %d: %d records @%d..%d (batches %s..%s) %s\n", cur.pid, cur.epoch, cur.n, cur.first, cur.last, cur.minID, cur.maxID, end)
				cur = nil
			}
		}
		for _, r := range recs[p] {
			if r.Attrs.IsControl() {
				kind := "ABORT"
				if len(r.Key) >= 4 && binary.BigEndian.Uint16(r.Key[2:4]) == 1 {
					kind = "COMMIT"
				}
				if cur != nil && cur.pid == r.ProducerID {
					flush(fmt.Sprintf("-> %s@%d (epoch %d)", kind, r.Offset, r.ProducerEpoch))
				} else {
					flush("-> (no marker before the next run)")
					fmt.Fprintf(&b, "    bare %s@%d pid %d epoch %d\n", kind, r.Offset, r.ProducerID, r.ProducerEpoch)
				}
				continue
			}
			if cur != nil && (cur.pid != r.ProducerID || cur.epoch != r.ProducerEpoch) {
				flush("-> (no marker; next run starts)")
			}
			if cur == nil {
				cur = &run{pid: r.ProducerID, epoch: r.ProducerEpoch, first: r.Offset, minID: string(r.Key)}
			}
			cur.last, cur.maxID = r.Offset, string(r.Key)
			cur.n++
		}
		flush("-> (open: no marker)")
	}
	return b.String()
}
