package bench

// This file is the pipelines: `segmerge consume` run over a workload's
// topic, once per mode or as several processes at once, and their rows.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/verify"
)

// pipelines runs every mode's pipeline (or, for a workload with
// Processes, its scaled runs) over topic, as the run-th run.
func (r *runner) pipelines(ctx context.Context, w Workload, topic string, pc producer.Config, pst producer.Stats, groups *[]string, run int) ([]Result, error) {
	var rows []Result
	for _, mode := range r.cfg.Modes {
		if len(w.Processes) > 0 {
			for _, n := range w.Processes {
				row, err := r.scaled(ctx, w, mode, n, topic, pc, pst, groups)
				if err != nil {
					return nil, err
				}
				rows = append(rows, row)
			}
			continue
		}
		row, err := r.pipeline(ctx, w, mode, topic, pc, pst, groups, run)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// faster returns the faster of two runs of a pipeline, with both runs'
// seconds; a run that did not verify is returned whatever its speed.
func faster(a, b Result) Result {
	runs := []float64{a.Seconds, b.Seconds}
	best := a
	switch {
	case !a.Verified:
	case !b.Verified || b.Seconds < a.Seconds:
		best = b
	}
	best.Runs = runs
	return best
}

// account sets the row's CPU and join figures from its consumer
// processes; Seconds and Integers must be set.
func (row *Result) account(gots ...ran) {
	var cpu time.Duration
	for _, g := range gots {
		cpu += g.cpu
		row.JoinSeconds = max(row.JoinSeconds, g.FirstSeconds)
	}
	row.CPUSeconds = cpu.Seconds()
	if row.Integers > 0 {
		row.CPUNsPerInt = float64(cpu.Nanoseconds()) / float64(row.Integers)
	}
	if steady := row.Seconds - row.JoinSeconds; steady > 0 {
		row.SteadyIntsPerSec = float64(row.Integers) / steady
	}
}

// judge sets whether the row's output verified: every one of the produced
// batches, each once and equal to its input; and if not, why.
func (row *Result) judge(vr *verify.Report, produced int64) {
	row.Verified = vr.OK() && vr.Batches == produced
	switch {
	case !vr.OK():
		row.Problem = vr.Summary()
	case !row.Verified:
		row.Problem = fmt.Sprintf("verified %d batches of the %d produced", vr.Batches, produced)
	}
}

// pipeline runs `segmerge consume` over topic in mode, verifies its output
// and returns the row, less its ceiling.
func (r *runner) pipeline(ctx context.Context, w Workload, mode, topic string, pc producer.Config, pst producer.Stats, groups *[]string, run int) (Result, error) {
	cfg := r.cfg
	out := filepath.Join(cfg.OutDir, w.Name+"-"+mode+".jsonl")
	group := fmt.Sprintf("segmerge-bench-%s-%s-%d%s", w.Name, mode, run, r.suffix) // a fresh group: from the start
	*groups = append(*groups, group)
	args := []string{"consume", "-b", strings.Join(cfg.Brokers, ","), "-t", topic, "-g", group, "--mode", mode,
		"-e", "--from-beginning", "--out-file", out, "--overwrite", "-q"}
	args = append(append(append(args, w.ConsumeArgs...), cfg.ConsumeArgs...), cfg.ClientArgs...)
	got, err := r.child(ctx, args...)
	if err != nil {
		return Result{}, err
	}
	row := Result{
		Workload: w.Name, Mode: mode, Processes: 1,
		Batches: got.Batches, Integers: got.Integers, Records: pst.Records, Bytes: pst.Bytes,
		Seconds: got.Seconds, ProcessSeconds: got.wall.Seconds(),
		BatchesPerSec: float64(got.Batches) / got.Seconds, IntsPerSec: float64(got.Integers) / got.Seconds,
		MBPerSec: float64(pst.Bytes) / 1e6 / got.Seconds, PeakRSS: got.PeakRSS,
		ProduceSeconds: pst.Elapsed.Seconds(),
	}
	row.account(got)
	if r.embedded() {
		row.BrokerCPUSeconds = got.self.Seconds()
	}
	vr, err := verify.Run(ctx, verify.Config{
		Generated: &verify.Generated{Spec: pc.Spec(), First: pst.FirstBatch, Batches: pst.Batches},
		Segments:  int64(w.Segments),
		OutFile:   out,
	})
	if err != nil {
		return row, fmt.Errorf("bench: verify %s --mode %s: %w", w.Name, mode, err)
	}
	row.judge(vr, pst.Batches)
	if !r.keep {
		os.Remove(out)
	}
	cfg.Log.Info("consumed", "workload", w.Name, "mode", mode, "run", run, "seconds", fmt.Sprintf("%.2f", row.Seconds),
		"integers/s", si(row.IntsPerSec), "peak_rss", mib(row.PeakRSS), "verified", row.Verified)
	return row, nil
}

// scaled runs n `segmerge consume --layout batch` processes in one group
// over topic at once, into an output topic, and verifies that topic
// (read_committed, in any order across partitions). The row's time is the
// slowest process's clock, its figures the sums, its peak RSS the largest
// process's.
func (r *runner) scaled(ctx context.Context, w Workload, mode string, n int, topic string, pc producer.Config, pst producer.Stats, groups *[]string) (Result, error) {
	cfg := r.cfg
	name := fmt.Sprintf("%s-%s-x%d", w.Name, mode, n)
	group := "segmerge-bench-" + name + r.suffix
	out := topic + "-out-" + name
	*groups = append(*groups, group)
	defer r.dropTopics(out)
	args := []string{"consume", "-b", strings.Join(cfg.Brokers, ","), "-t", topic, "-g", group, "--mode", mode,
		"--layout", "batch", "-e", "--from-beginning", "--output-topic", out, "-q"}
	args = append(append(append(args, w.ConsumeArgs...), cfg.ConsumeArgs...), cfg.ClientArgs...)
	gots := make([]ran, n)
	errs := make([]error, n)
	files := make([]string, n)
	for i := range files {
		r.n++
		files[i] = filepath.Join(r.tmp, fmt.Sprintf("stats-%d.json", r.n))
	}
	var wg sync.WaitGroup
	runtime.GC() // as child does: the last row's garbage is not this row's broker CPU
	self := selfCPU()
	for i := range n {
		wg.Go(func() { gots[i], errs[i] = runChild(ctx, cfg.Exe, files[i], args...) })
	}
	wg.Wait()
	self = selfCPU() - self
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	row := Result{Workload: w.Name, Mode: mode, Processes: n, Records: pst.Records, Bytes: pst.Bytes, ProduceSeconds: pst.Elapsed.Seconds()}
	for _, g := range gots {
		row.Batches += g.Batches
		row.Integers += g.Integers
		row.Seconds = max(row.Seconds, g.Seconds)
		row.ProcessSeconds = max(row.ProcessSeconds, g.wall.Seconds())
		row.PeakRSS = max(row.PeakRSS, g.PeakRSS)
	}
	if row.Seconds <= 0 {
		return row, fmt.Errorf("bench: %s reported no running time", name)
	}
	row.BatchesPerSec = float64(row.Batches) / row.Seconds
	row.IntsPerSec = float64(row.Integers) / row.Seconds
	row.MBPerSec = float64(pst.Bytes) / 1e6 / row.Seconds
	row.account(gots...)
	if r.embedded() {
		row.BrokerCPUSeconds = self.Seconds()
	}
	vr, err := verify.Run(ctx, verify.Config{
		Generated: &verify.Generated{Spec: pc.Spec(), First: pst.FirstBatch, Batches: pst.Batches},
		Segments:  int64(w.Segments),
		Brokers:   cfg.Brokers, ClientOpts: cfg.ClientOpts, Topic: out, Unordered: true,
	})
	if err != nil {
		return row, fmt.Errorf("bench: verify %s: %w", name, err)
	}
	row.judge(vr, pst.Batches)
	cfg.Log.Info("consumed", "workload", w.Name, "mode", mode, "processes", n, "seconds", fmt.Sprintf("%.2f", row.Seconds),
		"integers/s", si(row.IntsPerSec), "peak_rss", mib(row.PeakRSS), "verified", row.Verified)
	return row, nil
}
