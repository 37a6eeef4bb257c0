package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/stream/feed"
)

// stream runs a stream workload: package feed writes w.Partitions
// partitions of w.StreamRecords timestamp-sorted records to a fresh topic
// (Config.Batches, if set, replaces the count); the raw fetch and kcat
// read the topic before and after, the faster of each counting, as for
// the other workloads; `segmerge stream --by timestamp -e` writes it into
// a file, which must hold every record once in global key order
// (feed.Checker).
func (r *runner) stream(ctx context.Context, w Workload) error {
	cfg := r.cfg
	topic := "segmerge-bench-" + w.Name + r.suffix
	group := topic
	defer r.drop(topic, []string{group})
	fc := feed.DefaultConfig()
	fc.Brokers, fc.ClientOpts, fc.Topic, fc.Recreate, fc.Partitions = cfg.Brokers, cfg.ClientOpts, topic, true, w.Partitions
	fc.Records, fc.Seed = w.StreamRecords, 1
	if cfg.Batches > 0 {
		fc.Records = cfg.Batches
	}
	fc.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A record of the feed is about 45 bytes before its padding.
	fc.Pad = max(w.StreamBytes-45, 0)
	fst, err := feed.Run(ctx, fc)
	if err != nil {
		return fmt.Errorf("bench: produce %s: %w", w.Name, err)
	}
	cfg.Log.Info("produced", "workload", w.Name, "records", fst.Records, "MB", fmt.Sprintf("%.1f", float64(fst.Bytes)/1e6),
		"seconds", fmt.Sprintf("%.2f", fst.Elapsed.Seconds()))
	runtime.GC()

	pst := producer.Stats{Records: fst.Records, Bytes: fst.Bytes}
	first, err := r.ceiling(ctx, topic, pst)
	if err != nil {
		return err
	}
	k1 := r.kcatRun(ctx, topic, pst)
	out := filepath.Join(cfg.OutDir, w.Name+".jsonl")
	args := []string{"stream", "-b", strings.Join(cfg.Brokers, ","), "-t", topic, "-g", group, "--by", "timestamp",
		"-e", "--from-beginning", "--out-file", out, "-q"}
	got, err := r.child(ctx, append(args, cfg.ClientArgs...)...)
	if err != nil {
		return err
	}
	second, err := r.ceiling(ctx, topic, pst)
	if err != nil {
		return err
	}
	k2 := r.kcatRun(ctx, topic, pst)
	ceil := first
	if second.Seconds < ceil.Seconds {
		ceil = second
	}
	row := Result{
		Workload: w.Name, Mode: "by timestamp", Processes: 1,
		Records: got.Records, Bytes: fst.Bytes, Seconds: got.Seconds, ProcessSeconds: got.wall.Seconds(),
		RecordsPerSec: float64(got.Records) / got.Seconds, MBPerSec: float64(fst.Bytes) / 1e6 / got.Seconds,
		PeakRSS: got.PeakRSS, ProduceSeconds: fst.Elapsed.Seconds(),
		CeilingSeconds: ceil.Seconds, CeilingMBPerSec: float64(fst.Bytes) / 1e6 / ceil.Seconds, CeilingPeakRSS: ceil.PeakRSS,
		CeilingRuns: []float64{first.Seconds, second.Seconds},
	}
	row.Ratio = row.MBPerSec / row.CeilingMBPerSec
	if kcat := kcatBest(k1, k2); kcat > 0 {
		row.KcatSeconds, row.KcatMBPerSec = kcat, float64(fst.Bytes)/1e6/kcat
		row.OverKcat = row.MBPerSec / row.KcatMBPerSec
	}
	var c feed.Checker
	if err := feed.EachLine(out, c.Add); err != nil {
		return fmt.Errorf("bench: read %s: %w", out, err)
	}
	row.Verified = c.Err() == nil && c.Count() == fst.Records && got.Records == fst.Records
	switch {
	case c.Err() != nil:
		row.Problem = c.Err().Error()
	case !row.Verified:
		row.Problem = fmt.Sprintf("%d records written, %d in the file, of the %d produced", got.Records, c.Count(), fst.Records)
	}
	if !r.keep {
		os.Remove(out)
	}
	cfg.Log.Info("streamed", "workload", w.Name, "seconds", fmt.Sprintf("%.2f", row.Seconds), "records/s", si(row.RecordsPerSec),
		"ceiling seconds", fmt.Sprintf("%.2f %.2f", first.Seconds, second.Seconds), "kcat seconds", kcatNote(k1, k2), "verified", row.Verified)
	r.rep.Rows = append(r.rep.Rows, row)
	if w.StreamRate > 0 {
		lat, err := r.streamLatency(ctx, w)
		if err != nil {
			return err
		}
		r.rep.Latency = append(r.rep.Latency, lat)
	}
	return nil
}
