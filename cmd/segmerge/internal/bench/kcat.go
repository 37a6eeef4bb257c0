package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/segmerge/segmerge/producer"
)

// A second ceiling, where kcat is installed: the tool a Kafka user reaches
// for to read a topic raw. `kcat -C -e -o beginning -f '\n'` reads every
// partition to its end with librdkafka (fetch.wait.max.ms=10) and writes
// one newline a record, which the bench counts. Its local queue may hold
// the whole topic (queued.min.messages, queued.max.messages.kbytes): at
// librdkafka's defaults a partition whose queue passes 100,000 records
// waits before it is fetched again, and a ceiling must not measure that
// wait. Its time runs from exec to exit, so it includes kcat's start-up (a
// few milliseconds) where the franz-go ceiling's clock does not. Like that
// ceiling it runs before the pipelines and after them, and the faster run
// counts. Without kcat, or if it fails or reads another count of records,
// the rows carry no kcat figures and the bench says why in its log: kcat
// is a yardstick, not part of the pipeline under test.

// kcatTimeout bounds a kcat run (see yardstick).
const kcatTimeout = 5 * time.Minute

// kcatRun reads topic with kcat and returns its seconds; 0 without kcat or
// on a failure, which it logs.
func (r *runner) kcatRun(ctx context.Context, topic string, pst producer.Stats) float64 {
	path, err := exec.LookPath("kcat")
	if err != nil {
		return 0
	}
	args := append([]string{"-C", "-b", strings.Join(r.cfg.Brokers, ","), "-t", topic, "-o", "beginning", "-e", "-q",
		"-f", `\n`, "-X", "fetch.wait.max.ms=10", "-X", "queued.min.messages=10000000", "-X", "queued.max.messages.kbytes=2097151"}, r.cfg.ClientArgs...)
	var n counter
	took, ok := r.yardstick(ctx, "kcat", "no kcat ceiling", topic, kcatTimeout, &n, path, args...)
	switch {
	case !ok:
		return 0
	case n.lines != pst.Records:
		r.cfg.Log.Warn("kcat read another count of records: no kcat ceiling", "topic", topic, "kcat", n.lines, "produced", pst.Records)
		return 0
	}
	return took.Seconds()
}

// counter counts the newlines written to it.
type counter struct{ lines int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// kcatBest is the faster of two kcat runs' seconds, 0 if neither ran.
func kcatBest(a, b float64) float64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// kcatNote says what the kcat ceiling was, for the log.
func kcatNote(a, b float64) string {
	if a == 0 && b == 0 {
		return "none"
	}
	return fmt.Sprintf("%.2f %.2f", a, b)
}
