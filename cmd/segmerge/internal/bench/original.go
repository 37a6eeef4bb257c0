package bench

import (
	"context"
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/verify"
)

// A baseline, where python3 with confluent_kafka is installed: the
// original simple consumer's algorithm on librdkafka (original.py), the
// figure segmerge was built to beat. A workload with Baseline set runs it
// once, after its pipelines, over the same topic; its time runs from exec
// to exit, and its output is verified like a pipeline's (every batch once,
// equal to its input; in any order, since it writes batches as they
// complete). Without python3 and confluent_kafka, or if it fails or its
// output does not verify, the rows carry no baseline figure and the bench
// says why in its log: like kcat, it is a yardstick.

//go:embed original.py
var originalPy []byte

// originalTimeout bounds a run of original.py: ten minutes, about fifty
// times its time over the seed workload.
const originalTimeout = 10 * time.Minute

// pythons are the interpreters the baseline may run with, in order: the
// system's first, where Debian's python3-confluent-kafka installs the
// module (a python3 earlier on PATH, say pyenv's, often lacks it).
var pythons = []string{"/usr/bin/python3", "python3"}

// originalRun runs original.py over topic and returns its seconds; 0
// without python3 and confluent_kafka, or on a failure, which it logs.
func (r *runner) originalRun(ctx context.Context, topic string, pc producer.Config, pst producer.Stats) float64 {
	path := ""
	for _, p := range pythons {
		if p, err := exec.LookPath(p); err == nil && exec.CommandContext(ctx, p, "-c", "import confluent_kafka").Run() == nil {
			path = p
			break
		}
	}
	if path == "" {
		r.cfg.Log.Info("no python3 with confluent_kafka: no baseline of the original algorithm")
		return 0
	}
	script := filepath.Join(r.tmp, "original.py")
	out := filepath.Join(r.tmp, "original.jsonl")
	defer os.Remove(out)
	if err := os.WriteFile(script, originalPy, 0o644); err != nil {
		r.cfg.Log.Warn("write original.py: no baseline", "err", err)
		return 0
	}
	args := append([]string{script, strings.Join(r.cfg.Brokers, ","), topic, out, strconv.Itoa(pc.Segments)}, r.cfg.ClientArgs...)
	took, ok := r.yardstick(ctx, "original.py", "no baseline", topic, originalTimeout, nil, path, args...)
	if !ok {
		return 0
	}
	vr, err := verify.Run(ctx, verify.Config{
		Generated: &verify.Generated{Spec: pc.Spec(), First: pst.FirstBatch, Batches: pst.Batches},
		Segments:  int64(pc.Segments),
		OutFile:   out,
		Unordered: true,
	})
	if err != nil || !vr.OK() || vr.Batches != pst.Batches {
		var why string
		if err != nil {
			why = err.Error()
		} else {
			why = vr.Summary()
		}
		r.cfg.Log.Warn("original.py's output did not verify: no baseline", "topic", topic, "batches", pst.Batches, "why", why)
		return 0
	}
	return took.Seconds()
}
