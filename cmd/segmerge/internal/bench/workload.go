package bench

import (
	"fmt"
	"strings"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/producer"
)

// Workload is a named shape of input: what the producer writes before the
// clock starts, and how the consumer is run over it. Workloads are data, so
// a new one (a batch layout for several consumer processes, a memory
// setting) is a new entry here, not new code.
type Workload struct {
	Name  string
	About string // one line, for --help
	// Batches is how many batches are produced unless Config.Batches
	// overrides it: enough for the pipeline to run well past its start-up.
	Batches int64
	// The producer's shape (see producer.Config): Segments segments of
	// MinLen..MaxLen integers in MinValue..MaxValue, written ChunkSize
	// integers a record at most (0: one record a segment), in Layout over
	// Partitions partitions.
	Segments           int
	MinLen, MaxLen     int
	MinValue, MaxValue int64
	ChunkSize          int
	Layout             string
	Partitions         int32
	// ConsumeArgs are extra flags for every `segmerge consume` this
	// workload runs (say, a memory setting).
	ConsumeArgs []string
	// Processes, if set, runs the pipeline as that many `segmerge consume`
	// processes in one group (--layout batch, writing a transactional
	// output topic, the exactly-once sink across processes), one row per
	// count; the workload must use the batch layout.
	Processes []int
	// Rates, if set, makes this a latency workload (see latency.go): for
	// each rate, in batches a second, a following consumer is measured
	// over Seconds of steady production, one row per sink.
	Rates   []float64
	Seconds float64
	// Companion names a workload that runs before this one whenever this
	// one is chosen, so that targets can compare the two rows (huge's
	// memory must stay flat against huge-1m's).
	Companion string
	// Targets are the goals this workload's rows are checked against.
	Targets []Target
	// Baseline runs the original algorithm over the topic too (see
	// original.go).
	Baseline bool
	// StreamRecords, if set, makes the workload one for segmerge stream:
	// that many records a partition, sorted by timestamp, of about
	// StreamBytes each (package feed), read by `segmerge stream`; the
	// batch fields do not apply.
	StreamRecords int64
	StreamBytes   int
	// StreamRate, if set, adds an emit-latency run (see streamLatency):
	// records a second, for StreamSeconds.
	StreamRate    float64
	StreamSeconds float64
}

// Metric names a figure of a Result that a Target bounds.
type Metric string

// Metrics.
const (
	// IntsPerSec is integers merged and written per second.
	IntsPerSec Metric = "ints/s"
	// Ratio is the pipeline's throughput over the ceiling's: the same
	// topic read, so the same ratio in bytes, records or batches.
	Ratio Metric = "pipeline/ceiling"
	// RatioKcat is the pipeline's throughput over kcat's raw read of the
	// same topic (where kcat is installed; see kcat.go).
	RatioKcat Metric = "pipeline/kcat"
	// RatioOriginal is the pipeline's throughput over the original
	// algorithm's on librdkafka (a workload with Baseline; see
	// original.go).
	RatioOriginal Metric = "pipeline/original"
	// PeakRSS is the consumer process's peak resident set, in bytes.
	PeakRSS Metric = "peak RSS"
	// PeakRSSGrowth is PeakRSS over the companion workload's PeakRSS in
	// the same mode: 1.0 means memory is flat in the size of a segment.
	PeakRSSGrowth Metric = "peak RSS / companion's"
	// SteadyOverOne is a row's steady-state throughput (after the last
	// process joined) over the same workload's one-process row's, in the
	// same mode: 1.0 means a process added took nothing away.
	SteadyOverOne Metric = "steady ints/s / 1 process's"
	// CPUOverOne is a row's CPU time an integer, summed over its
	// processes, over the one-process row's: 1.0 means a process added
	// costs no CPU.
	CPUOverOne Metric = "CPU/int / 1 process's"
)

// Target is a goal for a figure of a workload's rows. Targets are shown by
// `segmerge bench`, met or not; missing one does not fail the run (on a
// busy or smaller machine the figures move), wrong output does.
type Target struct {
	// Mode is the consumer mode the target holds for; "" for every mode.
	Mode string
	// Processes is the process count the target holds for (a workload
	// with Processes); 0 for every count.
	Processes int
	Metric    Metric
	// Min is a lower bound, Max an upper one; zero means none.
	Min, Max float64
}

// String says the target as the table shows it, e.g. "ints/s >= 25M".
func (t Target) String() string {
	var b strings.Builder
	b.WriteString(string(t.Metric))
	if t.Min != 0 {
		fmt.Fprintf(&b, " >= %s", t.Metric.format(t.Min))
	}
	if t.Max != 0 {
		fmt.Fprintf(&b, " <= %s", t.Metric.format(t.Max))
	}
	return b.String()
}

// value returns r's figure for m, and false if r does not have it (a
// growth with no companion row, a one-process row over itself). For a
// workload with Processes, companion is its one-process row.
func (m Metric) value(r, companion *Result) (float64, bool) {
	switch m {
	case IntsPerSec:
		return r.IntsPerSec, true
	case Ratio:
		return r.Ratio, true
	case RatioKcat:
		return r.OverKcat, r.OverKcat > 0
	case RatioOriginal:
		return r.OverOriginal, r.OverOriginal > 0
	case PeakRSS:
		return float64(r.PeakRSS), r.PeakRSS > 0
	case PeakRSSGrowth:
		if companion == nil || companion.PeakRSS == 0 || r.PeakRSS == 0 {
			return 0, false
		}
		return float64(r.PeakRSS) / float64(companion.PeakRSS), true
	case SteadyOverOne:
		if r.Processes < 2 || companion == nil || companion.SteadyIntsPerSec == 0 {
			return 0, false
		}
		return r.SteadyIntsPerSec / companion.SteadyIntsPerSec, true
	case CPUOverOne:
		if r.Processes < 2 || companion == nil || companion.CPUNsPerInt == 0 || r.CPUNsPerInt == 0 {
			return 0, false
		}
		return r.CPUNsPerInt / companion.CPUNsPerInt, true
	}
	return 0, false
}

// format renders a value of m for people.
func (m Metric) format(v float64) string {
	switch m {
	case IntsPerSec:
		return si(v)
	case PeakRSS:
		return mib(int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// The workloads, in the order --help lists them.
var Workloads = []Workload{
	{
		Name:    "seed",
		About:   "the original shape: 10 segments of 10-20 integers in 1..10",
		Batches: 100_000,
		Targets: []Target{
			{Metric: Ratio, Min: 0.5},
			{Mode: consumer.ModeConcurrent, Metric: RatioKcat, Min: 0.5},
			{Mode: consumer.ModeConcurrent, Metric: RatioOriginal, Min: 20},
		},
		Baseline: true,
	},
	{
		Name:    "bulk",
		About:   "10 segments of 10,000 integers in 0..1e9",
		Batches: 300,
		MinLen:  10_000, MaxLen: 10_000, MinValue: 0, MaxValue: 1e9,
		Targets: []Target{
			{Mode: consumer.ModeConcurrent, Metric: Ratio, Min: 0.5},
			{Mode: consumer.ModeConcurrent, Metric: RatioKcat, Min: 0.5},
			{Mode: consumer.ModeConcurrent, Metric: IntsPerSec, Min: 25e6},
		},
	},
	{
		Name:    "scale",
		About:   "bulk in the batch layout, merged by 1, 2 and 3 consumer processes in one group into an output topic",
		Batches: 600,
		MinLen:  10_000, MaxLen: 10_000, MinValue: 0, MaxValue: 1e9,
		Layout:    producer.LayoutBatch,
		Processes: []int{1, 2, 3},
		Targets: []Target{
			{Metric: SteadyOverOne, Min: 0.8},
			{Processes: 3, Metric: CPUOverOne, Max: 1.15},
		},
	},
	{
		Name:    "latency",
		About:   "the original shape produced at a steady 1,000 and 10,000 batches/s for 30s to a following consumer: time to its file and its output topic",
		Rates:   []float64{1000, 10_000},
		Seconds: 30,
	},
	{
		Name:    "huge-1m",
		About:   "one batch of 10 segments of 1,000,000 integers in 0..1e9, in records of 10,000, consumer --memory 64MiB (huge's reference)",
		Batches: 1,
		MinLen:  1_000_000, MaxLen: 1_000_000, MinValue: 0, MaxValue: 1e9, ChunkSize: 10_000,
		ConsumeArgs: []string{"--memory", "64MiB"},
	},
	{
		Name:    "huge",
		About:   "one batch of 10 segments of 10,000,000 integers in 0..1e9, in records of 10,000, consumer --memory 64MiB",
		Batches: 1,
		MinLen:  10_000_000, MaxLen: 10_000_000, MinValue: 0, MaxValue: 1e9, ChunkSize: 10_000,
		ConsumeArgs: []string{"--memory", "64MiB"},
		Companion:   "huge-1m",
		Targets: []Target{
			{Metric: PeakRSS, Max: 64 << 20},
			{Metric: PeakRSSGrowth, Max: 1.10},
		},
	},
	{
		Name:          "stream",
		About:         "segmerge stream --by timestamp into a file over 4 partitions of 250,000 timestamp-sorted records of about 100 bytes; then its emit latency, following 10,000 records/s for 10s",
		Partitions:    4,
		StreamRecords: 250_000,
		StreamBytes:   100,
		StreamRate:    10_000,
		StreamSeconds: 10,
		Targets:       []Target{{Metric: RatioKcat, Min: 0.5}},
	},
}

// Lookup returns the workload called name.
func Lookup(name string) (Workload, bool) {
	for _, w := range Workloads {
		if w.Name == name {
			return w.withDefaults(), true
		}
	}
	return Workload{}, false
}

// Names lists the workloads' names.
func Names() []string {
	names := make([]string, len(Workloads))
	for i, w := range Workloads {
		names[i] = w.Name
	}
	return names
}

// withDefaults fills what a workload leaves unsaid with the producer's
// defaults (the original shape).
func (w Workload) withDefaults() Workload {
	d := producer.DefaultConfig()
	if w.Segments == 0 {
		w.Segments = d.Segments
	}
	if w.MinLen == 0 && w.MaxLen == 0 {
		w.MinLen, w.MaxLen = d.MinLen, d.MaxLen
	}
	if w.MinValue == 0 && w.MaxValue == 0 {
		w.MinValue, w.MaxValue = d.MinValue, d.MaxValue
	}
	if w.Layout == "" {
		w.Layout = d.Layout
	}
	if w.Partitions == 0 {
		w.Partitions = d.Partitions
	}
	return w
}

// checks applies every workload's targets to its rows.
func checks(ws []Workload, rows []Result) []Check {
	var out []Check
	for _, w := range ws {
		for _, t := range w.Targets {
			for i := range rows {
				row := &rows[i]
				if row.Workload != w.Name || t.Mode != "" && t.Mode != row.Mode || t.Processes != 0 && t.Processes != row.Processes {
					continue
				}
				var companion *Result
				for j := range rows {
					c := &rows[j]
					if c.Mode == row.Mode && (c.Workload == w.Companion || len(w.Processes) > 0 && c.Workload == w.Name && c.Processes == 1) {
						companion = c
					}
				}
				v, ok := t.Metric.value(row, companion)
				if !ok {
					continue
				}
				met := (t.Min == 0 || v >= t.Min) && (t.Max == 0 || v <= t.Max)
				c := Check{Workload: w.Name, Mode: row.Mode, Target: t.String(), Value: v, Shown: t.Metric.format(v), Met: met}
				if len(w.Processes) > 0 {
					c.Processes = row.Processes
				}
				out = append(out, c)
			}
		}
	}
	return out
}
