// Package bench measures segmerge's consumer: throughput and peak memory
// for named workloads, each against a ceiling measured in the same run on
// the same topic.
//
// # How a workload is measured
//
// The producer writes the workload to a fresh topic first; its time is not
// measured. Then two kinds of child process read that topic, one after the
// other, each a fresh run of the segmerge binary:
//
//   - the ceiling, `segmerge bench-fetch`: a plain franz-go client reading
//     the topic from start to end, with no group and no decoding (Fetch),
//     run before the pipelines and again after them; the faster run counts;
//   - the pipeline, `segmerge consume --mode M -e --from-beginning
//     --out-file F`: fetch, decode, assemble, merge and write JSON Lines, as
//     a user runs it, once per mode after each ceiling run, in a fresh
//     group each time; the faster run counts, as for the ceiling and kcat
//     (scaled runs, several processes at once, run once).
//
// Each child reports its own clock, from before its first connection to the
// broker until it has closed its clients (for the pipeline: joining the
// group, the final flush and fsync of the file, the last commit and leaving
// the group are in it; process start-up is not). The pipeline/ceiling ratio
// divides the two clocks' throughputs over the same bytes. The consumer's
// peak RSS is its own, because it is a process of its own: the broker lives
// in the bench's process (or elsewhere, with -b), the producer has finished.
//
// The pipeline's output is then verified against the producer's data,
// regenerated from its seed (verify.Generated): a bench whose output is
// wrong fails, whatever its speed.
//
// The package never changes a topic it did not create, and deletes the
// topics it created when a workload is done.
package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/broker"
	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
	"github.com/segmerge/segmerge/producer"
)

// Config is a bench run; the zero value of every field but Workloads and
// Modes has a default.
type Config struct {
	Workloads []Workload // from Lookup
	Modes     []string   // consumer modes; each workload runs once per mode
	// Brokers is the cluster to run against; empty starts an embedded
	// cluster in this process, on free ports, in memory.
	Brokers []string
	// ClientOpts are the client options for Brokers (TLS, SASL), and
	// ClientArgs the flags that give them to a child (-X, -F).
	ClientOpts []kgo.Opt
	ClientArgs []string
	// Batches, if not 0, replaces every workload's batch count (a
	// latency workload's count per rate).
	Batches int64
	// Rates, if set, replaces a latency workload's rates.
	Rates []float64
	// Compression is the producer's codec; default the producer's.
	Compression string
	// OutDir keeps the pipelines' output files, named
	// <workload>-<mode>.jsonl; empty writes them to a temporary directory
	// and removes each once verified.
	OutDir string
	// Exe is the segmerge binary the children run; default this process's
	// own executable.
	Exe string
	// ConsumeArgs are extra flags for every `segmerge consume` child.
	ConsumeArgs []string
	// Log receives one line per step; default none.
	Log *slog.Logger
}

// Result is one row: a workload consumed in one mode.
type Result struct {
	Workload string `json:"workload"`
	Mode     string `json:"mode"`
	// Processes is how many consumer processes shared the work (a
	// workload with Processes); 1 otherwise.
	Processes int   `json:"processes"`
	Batches   int64 `json:"batches"`
	Integers  int64 `json:"integers"`
	Records   int64 `json:"records"`
	Bytes     int64 `json:"bytes"` // input record values
	// Seconds is the consumer's own clock (see the package doc);
	// ProcessSeconds is from its exec to its exit, as the bench saw it.
	Seconds        float64 `json:"seconds"`
	ProcessSeconds float64 `json:"process_seconds"`
	BatchesPerSec  float64 `json:"batches_per_second"`
	IntsPerSec     float64 `json:"integers_per_second"`
	MBPerSec       float64 `json:"mb_per_second"` // input bytes, 1 MB = 1e6 bytes
	PeakRSS        int64   `json:"peak_rss_bytes"`
	// The ceiling of the same topic in the same run (Fetch).
	CeilingSeconds  float64 `json:"ceiling_seconds"`
	CeilingMBPerSec float64 `json:"ceiling_mb_per_second"`
	CeilingPeakRSS  int64   `json:"ceiling_peak_rss_bytes"`
	// CeilingCPUSeconds is the faster ceiling run's user and system CPU:
	// franz-go fetching every record, with nothing done to them, in a
	// process of its own at the client's default fetch sizes. It is not
	// the fetch's part of CPUSeconds: the same fetching costs a pipeline
	// less or more (its own sizes, memory it already has).
	CeilingCPUSeconds float64 `json:"ceiling_cpu_seconds"`
	// CeilingRuns are the seconds of both ceiling runs, before and after
	// the pipelines; the faster one is the ceiling.
	CeilingRuns []float64 `json:"ceiling_runs_seconds"`
	// Runs are the seconds of both runs of the pipeline, after each
	// ceiling run; the row is the faster's (scaled rows run once).
	Runs []float64 `json:"pipeline_runs_seconds,omitempty"`
	// Ratio is MBPerSec / CeilingMBPerSec.
	Ratio float64 `json:"pipeline_over_ceiling"`
	// The kcat ceiling (see kcat.go), where kcat is installed: its best
	// run's seconds, MB/s, and MBPerSec over it.
	KcatSeconds  float64 `json:"kcat_seconds,omitempty"`
	KcatMBPerSec float64 `json:"kcat_mb_per_second,omitempty"`
	OverKcat     float64 `json:"pipeline_over_kcat,omitempty"`
	// The baseline (see original.go), for a workload with Baseline where
	// python3 and confluent_kafka are installed: the original algorithm's
	// seconds over the same topic, and the pipeline's throughput over its.
	OriginalSeconds float64 `json:"original_seconds,omitempty"`
	OverOriginal    float64 `json:"pipeline_over_original,omitempty"`
	// Verified says the output was checked and held every batch once,
	// equal to its input; Problem says why not.
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"`
	// CPUSeconds is the consumer processes' user and system CPU, summed;
	// CPUNsPerInt is that over Integers.
	CPUSeconds  float64 `json:"cpu_seconds"`
	CPUNsPerInt float64 `json:"cpu_ns_per_integer"`
	// BrokerCPUSeconds is, with the embedded cluster, this process's CPU
	// while the row's consumer processes ran: its brokers serving them,
	// on the same cores. Not known with -b or off Linux (omitted).
	BrokerCPUSeconds float64 `json:"broker_cpu_seconds,omitempty"`
	// JoinSeconds is the slowest consumer's time to its first batch
	// written (joining the group, positioning); SteadyIntsPerSec is
	// Integers over the rest of Seconds: the steady state, nearly (a
	// process that began earlier wrote some batches before the last one
	// joined).
	JoinSeconds      float64 `json:"join_seconds"`
	SteadyIntsPerSec float64 `json:"steady_integers_per_second"`
	// ProduceSeconds is how long writing the workload took (not part of
	// any figure above).
	ProduceSeconds float64 `json:"produce_seconds"`
	// RecordsPerSec is records written per second: a stream workload's
	// figure.
	RecordsPerSec float64 `json:"records_per_second,omitempty"`
}

// Check is a Target applied to a Result.
type Check struct {
	Workload string `json:"workload"`
	Mode     string `json:"mode"`
	// Processes is the row's process count, for a workload run as
	// several processes; 0 otherwise.
	Processes int     `json:"processes,omitempty"`
	Target    string  `json:"target"`
	Value     float64 `json:"value"`
	Shown     string  `json:"shown"` // Value as the table prints it
	Met       bool    `json:"met"`
}

// Report is a bench run.
type Report struct {
	Cluster     string   `json:"cluster"` // "embedded" or the brokers
	CPUs        int      `json:"cpus"`
	GoVersion   string   `json:"go_version"`
	Compression string   `json:"compression"`
	Rows        []Result `json:"rows"`
	// Latency holds the latency workloads' rows.
	Latency []LatencyResult `json:"latency,omitempty"`
	Targets []Check         `json:"targets"`
}

// OK reports whether every row's output verified.
func (r *Report) OK() bool {
	for _, row := range r.Rows {
		if !row.Verified {
			return false
		}
	}
	for _, row := range r.Latency {
		if !row.Verified {
			return false
		}
	}
	return true
}

// Run runs every workload in every mode and returns the report. An error
// means the bench could not finish (a child failed, the cluster did not
// answer, ctx was cancelled); the report then holds the rows done so far.
// Output that does not verify is not an error: see Report.OK.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Compression == "" {
		cfg.Compression = producer.DefaultConfig().Compression
	}
	if len(cfg.Workloads) == 0 || len(cfg.Modes) == 0 {
		return nil, errors.New("bench: no workload or no mode to run")
	}
	rep := &Report{Cluster: "embedded", CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Compression: cfg.Compression}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench: find the segmerge binary to run: %w", err)
		}
		cfg.Exe = exe
	}
	tmp, err := os.MkdirTemp("", "segmerge-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	keep := cfg.OutDir != ""
	if !keep {
		cfg.OutDir = tmp
	} else if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}

	// The suffix keeps topics and groups of runs against a shared cluster
	// apart; the embedded cluster is new each run.
	suffix := ""
	if len(cfg.Brokers) == 0 {
		c, err := broker.Start(broker.Config{Listen: []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		cfg.Brokers = c.Addrs()
		cfg.Log.Info("embedded cluster in this process", "brokers", c.Bootstrap())
	} else {
		rep.Cluster = strings.Join(cfg.Brokers, ",")
		suffix = "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}

	r := &runner{cfg: cfg, rep: rep, tmp: tmp, keep: keep, suffix: suffix}
	for _, w := range order(cfg.Workloads) {
		if err := r.workload(ctx, w); err != nil {
			return rep, err
		}
	}
	rep.Targets = append(checks(order(cfg.Workloads), rep.Rows), latencyChecks(rep.Latency)...)
	return rep, nil
}

// order returns ws with every companion placed before the first workload
// that names it, and each workload once.
func order(ws []Workload) []Workload {
	var out []Workload
	seen := map[string]bool{}
	add := func(w Workload) {
		if !seen[w.Name] {
			seen[w.Name] = true
			out = append(out, w)
		}
	}
	for _, w := range ws {
		if c, ok := Lookup(w.Companion); ok {
			add(c)
		}
		add(w)
	}
	return out
}

type runner struct {
	cfg    Config
	rep    *Report
	tmp    string
	keep   bool
	suffix string
	n      int // children run, for their stats files' names
}

// embedded says the cluster runs in this process (no -b).
func (r *runner) embedded() bool { return r.rep.Cluster == "embedded" }

// workload produces w to a fresh topic, measures its ceiling, runs and
// verifies every mode over it, and deletes the topic.
func (r *runner) workload(ctx context.Context, w Workload) error {
	if w.StreamRecords > 0 {
		return r.stream(ctx, w)
	}
	cfg := r.cfg
	if len(w.Rates) > 0 {
		return r.latencies(ctx, w)
	}
	topic := "segmerge-bench-" + w.Name + r.suffix
	pc := producer.DefaultConfig()
	pc.Brokers, pc.ClientOpts, pc.Topic, pc.Recreate, pc.Partitions = cfg.Brokers, cfg.ClientOpts, topic, true, w.Partitions
	pc.Batches = w.Batches
	if cfg.Batches > 0 {
		pc.Batches = cfg.Batches
	}
	pc.Segments, pc.MinLen, pc.MaxLen, pc.MinValue, pc.MaxValue = w.Segments, w.MinLen, w.MaxLen, w.MinValue, w.MaxValue
	pc.ChunkSize, pc.Layout, pc.Seed, pc.Compression = w.ChunkSize, w.Layout, 1, cfg.Compression
	if err := pc.Validate(); err != nil {
		return fmt.Errorf("bench: workload %s: %w", w.Name, err)
	}
	var groups []string
	defer func() { r.drop(topic, groups) }()
	pst, err := producer.Run(ctx, pc)
	if err != nil {
		return fmt.Errorf("bench: produce %s: %w", w.Name, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cfg.Log.Info("produced", "workload", w.Name, "batches", pst.Batches, "integers", pst.Integers,
		"MB", fmt.Sprintf("%.1f", float64(pst.Bytes)/1e6), "seconds", fmt.Sprintf("%.2f", pst.Elapsed.Seconds()),
		"integers/s", si(float64(pst.Integers)/pst.Elapsed.Seconds()))

	// The producer's garbage is collected now, not while a child is timed.
	runtime.GC()

	// The ceiling runs before the pipelines and again after them, and the
	// faster run counts: a ceiling is the best the fetch can do, and two
	// runs around the pipelines damp a burst of load from elsewhere.
	first, err := r.ceiling(ctx, topic, pst)
	if err != nil {
		return err
	}
	k1 := r.kcatRun(ctx, topic, pst)
	rows, err := r.pipelines(ctx, w, topic, pc, pst, &groups, 1)
	if err != nil {
		return err
	}
	second, err := r.ceiling(ctx, topic, pst)
	if err != nil {
		return err
	}
	k2 := r.kcatRun(ctx, topic, pst)
	kcat := kcatBest(k1, k2)
	if len(w.Processes) == 0 {
		// Each pipeline runs again after the second ceiling, as the
		// ceilings and kcat run twice: the faster run counts, for all
		// alike, so that a burst of load from elsewhere weighs on
		// neither side of a ratio alone.
		again, err := r.pipelines(ctx, w, topic, pc, pst, &groups, 2)
		if err != nil {
			return err
		}
		for i := range rows {
			rows[i] = faster(rows[i], again[i])
		}
	}
	var orig float64
	if w.Baseline {
		orig = r.originalRun(ctx, topic, pc, pst)
		cfg.Log.Info("baseline", "workload", w.Name, "original.py seconds", fmt.Sprintf("%.2f", orig))
	}
	ceil := first
	if second.Seconds < ceil.Seconds {
		ceil = second
	}
	ceilMB := float64(ceil.Bytes) / 1e6 / ceil.Seconds
	cfg.Log.Info("ceiling", "workload", w.Name, "seconds", fmt.Sprintf("%.2f %.2f", first.Seconds, second.Seconds), "best MB/s", fmt.Sprintf("%.0f", ceilMB),
		"kcat seconds", kcatNote(k1, k2))
	for _, row := range rows {
		row.CeilingSeconds, row.CeilingMBPerSec, row.CeilingPeakRSS = ceil.Seconds, ceilMB, ceil.PeakRSS
		row.CeilingCPUSeconds = ceil.cpu.Seconds()
		row.CeilingRuns = []float64{first.Seconds, second.Seconds}
		row.Ratio = row.MBPerSec / ceilMB
		if kcat > 0 {
			row.KcatSeconds, row.KcatMBPerSec = kcat, float64(pst.Bytes)/1e6/kcat
			row.OverKcat = row.MBPerSec / row.KcatMBPerSec
		}
		if orig > 0 {
			// Both clocks run from exec to exit.
			row.OriginalSeconds, row.OverOriginal = orig, orig/row.ProcessSeconds
		}
		r.rep.Rows = append(r.rep.Rows, row)
	}
	return nil
}

// ceiling runs the raw fetch of topic in a child and checks it read what
// the producer wrote.
func (r *runner) ceiling(ctx context.Context, topic string, pst producer.Stats) (ran, error) {
	got, err := r.child(ctx, append([]string{"bench-fetch", "-b", strings.Join(r.cfg.Brokers, ","), "-t", topic}, r.cfg.ClientArgs...)...)
	if err != nil {
		return got, err
	}
	if got.Records != pst.Records || got.Bytes != pst.Bytes {
		return got, fmt.Errorf("bench: the ceiling read %d records (%d bytes) of %s, the producer wrote %d (%d bytes)", got.Records, got.Bytes, topic, pst.Records, pst.Bytes)
	}
	return got, nil
}

// dropTopics deletes topics the bench made.
func (r *runner) dropTopics(topics ...string) {
	r.admin(func(ctx context.Context, adm *kadm.Client) {
		if _, err := adm.DeleteTopics(ctx, topics...); err != nil {
			r.cfg.Log.Warn("delete the bench's topics", "topics", topics, "err", err)
		}
	})
}

// admin runs fn with an admin client of the cluster and 30s to do its work;
// a cluster it cannot reach is left alone (cleaning up is best effort).
func (r *runner) admin(fn func(context.Context, *kadm.Client)) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kafka.Cluster{Brokers: r.cfg.Brokers, Opts: r.cfg.ClientOpts}.Client()
	if err != nil {
		return
	}
	defer cl.Close()
	fn(ctx, kadm.NewClient(cl))
}

// child runs one segmerge child with a fresh stats file.
func (r *runner) child(ctx context.Context, args ...string) (ran, error) {
	r.n++
	// An embedded broker lives in this process, with the whole topic and
	// the producer's garbage in its heap: a collection of it during a
	// child's run takes a core from the child, at random. Collect now,
	// so the next is a heap's growth away, the same for every child.
	runtime.GC()
	got, err := runChild(ctx, r.cfg.Exe, filepath.Join(r.tmp, fmt.Sprintf("stats-%d.json", r.n)), args...)
	if ctx.Err() != nil {
		// Stopped: a consumer that stopped cleanly wrote part of its
		// output, which is neither a figure nor a failure.
		return got, ctx.Err()
	}
	if err != nil {
		return got, fmt.Errorf("bench: %w", err)
	}
	if got.Seconds <= 0 {
		return got, fmt.Errorf("bench: segmerge %s reported no running time", args[0])
	}
	return got, nil
}

// drop deletes topic, the dead-letter topic a consumer may have made for
// it, and the bench's groups: the bench leaves nothing behind on a shared
// cluster, and the embedded one frees the memory for the next workload.
func (r *runner) drop(topic string, groups []string) {
	r.admin(func(ctx context.Context, adm *kadm.Client) {
		if _, err := adm.DeleteTopics(ctx, topic, topic+".dlq"); err != nil {
			r.cfg.Log.Warn("delete the bench's topic", "topic", topic, "err", err)
		}
		if len(groups) > 0 {
			if _, err := adm.DeleteGroups(ctx, groups...); err != nil {
				r.cfg.Log.Warn("delete the bench's groups", "groups", groups, "err", err)
			}
		}
	})
}

// Modes are the consumer modes a bench can run.
var Modes = []string{consumer.ModeSimple, consumer.ModeScalable, consumer.ModeConcurrent}
