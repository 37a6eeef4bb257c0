package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/deploy/grafana"
	"github.com/segmerge/segmerge/metrics"
)

// metricsURL waits for p's "serving metrics" log line and returns the
// endpoint's base URL (the process picked a free port: --metrics-addr
// 127.0.0.1:0).
func metricsURL(t *testing.T, p *proc) string {
	t.Helper()
	re := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)/metrics`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%v said nowhere where it serves metrics:\n%s", p.cmd.Args[1:], p.stderr.String())
	return ""
}

// scrape reads base's /metrics with Prometheus' own text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value is the sum of family name's samples whose labels include want
// (label=value pairs); -1 if the family is missing.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == want[i] && l.GetValue() == want[i+1]
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// get returns base+path's status code and body (0 and the error if it
// does not answer).
func get(base, path string) (int, string) {
	resp, err := http.Get(base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// within retries cond for up to d; it reports whether cond held.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The operator's view of a following consumer: after N batches and some
// bad records, /metrics (read with Prometheus' parser) counts N batches
// merged, no lag, and as many dead letters by reason as the dead-letter
// topic holds; /readyz is 200. A second member of the group takes half
// the partitions: both say on /readyz (503) that they hold only some of a
// segment-layout topic, and the first counts the rebalance; when the
// second stops, the first is ready again.
func TestMetricsEndpointShowsTheRun(t *testing.T) {
	t.Parallel() // waits on processes: see TestMain
	dir := t.TempDir()
	_, addr := brokerProc(t, filepath.Join(dir, "data"))
	const batches = 40
	mustExit(t, start(t, nil, "produce", "-b", addr, "--batches", strconv.Itoa(batches/2), "-q"), time.Minute, 0)
	bad := []*kgo.Record{
		{Topic: "segment-topic", Partition: 1, Value: []byte(`not json`)},
		{Topic: "segment-topic", Partition: 2, Value: []byte(`{"batch_id":3,"segment_id":2,"data":[5,4]}`)},
		{Topic: "segment-topic", Partition: 3, Value: []byte(`{"batch_id":4,"segment_id":3,"data":[1],"segments":2}`)},
	}
	if err := rawClient(t, addr).ProduceSync(context.Background(), bad...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")
	c := start(t, nil, "consume", "-b", addr, "--from-beginning", "--out-file", out,
		"--metrics-addr", "127.0.0.1:0", "--commit-interval", "100ms", "--session-timeout", "6s")
	base := metricsURL(t, c)
	waitLines(t, out, batches/2, c)
	mustExit(t, start(t, nil, "produce", "-b", addr, "--batches", strconv.Itoa(batches/2), "-q"), time.Minute, 0)
	waitLines(t, out, batches, c)

	var fams map[string]*dto.MetricFamily
	settled := within(30*time.Second, func() bool {
		fams = scrape(t, base)
		return value(fams, metrics.BatchesMerged) == batches && value(fams, metrics.ConsumerLag) == 0 &&
			value(fams, metrics.DeadLetters) == float64(len(bad))
	})
	dead := map[string]float64{}
	for _, r := range readTopic(t, addr, "segment-topic.dlq") {
		for _, h := range r.Headers {
			if h.Key == "segmerge.reason" {
				dead[string(h.Value)]++
			}
		}
	}
	if !settled {
		t.Fatalf("after %d batches and %d bad records: batches merged %v, lag %v, dead letters %v (the topic holds %v)",
			batches, len(bad), value(fams, metrics.BatchesMerged), value(fams, metrics.ConsumerLag), value(fams, metrics.DeadLetters), dead)
	}
	for reason, n := range dead {
		if got := value(fams, metrics.DeadLetters, "reason", reason); got != n {
			t.Errorf("dead letters with reason %s: /metrics says %v, the topic holds %v", reason, got, n)
		}
	}
	if parts := len(fams[metrics.ConsumerLag].GetMetric()); parts != 10 {
		t.Errorf("lag for %d partitions, want 10", parts)
	}
	for _, name := range []string{metrics.RecordsConsumed, metrics.IntegersMerged, metrics.BatchLatency, metrics.HeldBytes,
		metrics.PausedPartitions, metrics.PendingBatches, metrics.Transactions, metrics.Rebalances, metrics.BuildInfo,
		"segmerge_kafka_read_bytes_total", "go_goroutines", "process_resident_memory_bytes"} {
		if value(fams, name) < 0 {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if n := value(fams, metrics.BatchLatency); n != batches {
		t.Errorf("%v batch latencies observed, want %d", n, batches)
	}
	if code, body := get(base, "/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, _ := get(base, "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	rebalances := value(fams, metrics.Rebalances)

	// Every metric the dashboard reads is served by one of the two.
	used, err := grafana.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	produced := producerScrape(t, addr, "other-topic")
	for _, name := range used {
		if value(fams, name) < 0 && value(produced, name) < 0 {
			t.Errorf("deploy/grafana/segmerge.json reads %s, which neither a consumer nor a producer serves", name)
		}
	}

	// A process of its own: the default transactional id is the
	// group's in the segment layout, and would fence the first.
	second := start(t, nil, "consume", "-b", addr, "--out-file", filepath.Join(dir, "second.jsonl"),
		"--metrics-addr", "127.0.0.1:0", "--session-timeout", "6s", "--transactional-id", "segmerge-test-second")
	base2 := metricsURL(t, second)
	var body, body2 string
	if !within(45*time.Second, func() bool {
		var code, code2 int
		code, body = get(base, "/readyz")
		code2, body2 = get(base2, "/readyz")
		return code == 503 && code2 == 503 && strings.Contains(body, "of the 10 partitions") && strings.Contains(body2, "of the 10 partitions")
	}) {
		t.Fatalf("with two members of a segment-layout group, /readyz says %q and %q%s", body, body2, logs(c, second))
	}
	t.Logf("/readyz with two members: %q", body)
	// And the log says so too, once in a while, not at every poll.
	if !within(45*time.Second, func() bool {
		return strings.Contains(c.stderr.String(), "holds only some of the topic's partitions") &&
			strings.Contains(second.stderr.String(), "holds only some of the topic's partitions")
	}) {
		t.Fatalf("neither member's log says it holds only some partitions:%s", logs(c, second))
	}
	if got := value(scrape(t, base), metrics.Rebalances); got <= rebalances {
		t.Errorf("rebalances %v after a second member joined, %v before", got, rebalances)
	}
	if code := second.interrupt(t); code != 0 {
		t.Fatalf("the second member exited %d:\n%s", code, second.stderr.String())
	}
	if !within(45*time.Second, func() bool {
		code, b := get(base, "/readyz")
		body = b
		return code == 200
	}) {
		t.Fatalf("the first member alone again, /readyz says %q", body)
	}
	if code := c.interrupt(t); code != 0 {
		t.Fatalf("the consumer exited %d:\n%s", code, c.stderr.String())
	}
}

// producerScrape runs a producer with --metrics-addr on topic until its
// endpoint counts a few batches, and returns what it served.
func producerScrape(t *testing.T, addr, topic string) map[string]*dto.MetricFamily {
	t.Helper()
	p := start(t, nil, "produce", "-b", addr, "-t", topic, "--batches", "0", "--interval", "20ms", "--metrics-addr", "127.0.0.1:0")
	base := metricsURL(t, p)
	var fams map[string]*dto.MetricFamily
	if !within(30*time.Second, func() bool {
		fams = scrape(t, base)
		return value(fams, metrics.BatchesProduced) >= 5 && value(fams, "segmerge_kafka_write_bytes_total") > 0
	}) {
		t.Fatalf("the producer counted %v batches, %v bytes written", value(fams, metrics.BatchesProduced), value(fams, "segmerge_kafka_write_bytes_total"))
	}
	if recs, bs := value(fams, metrics.RecordsProduced), value(fams, metrics.BatchesProduced); recs < 10*(bs-1) {
		t.Errorf("%v records for %v batches of 10 segments", recs, bs)
	}
	if code := p.interrupt(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr.String())
	}
	return fams
}

// -e on a group that has never committed, without --from-beginning, reads
// nothing: the consumer says so in a line naming the flag, and exits 0.
func TestExitAtEndOnANewGroupSaysWhy(t *testing.T) {
	dir := t.TempDir()
	_, addr := brokerProc(t, filepath.Join(dir, "data"))
	mustExit(t, start(t, nil, "produce", "-b", addr, "--batches", "5", "-q"), time.Minute, 0)
	c := start(t, nil, "consume", "-b", addr, "-g", "new", "-e", "--out-file", filepath.Join(dir, "out.jsonl"))
	mustExit(t, c, time.Minute, 0)
	if !strings.Contains(c.stderr.String(), "--from-beginning") || lines(t, filepath.Join(dir, "out.jsonl")) != 0 {
		t.Fatalf("no hint naming --from-beginning:\n%s", c.stderr.String())
	}
}

// Every line a run writes on stderr under --log-format json is a JSON
// object with time, level and msg: a consumer's logs and its summary, a
// producer's, and a usage error's.
func TestJSONLogsAreJSON(t *testing.T) {
	dir := t.TempDir()
	_, addr := brokerProc(t, filepath.Join(dir, "data"))
	runs := []*proc{
		start(t, nil, "--log-format", "json", "produce", "-b", addr, "--batches", "20"),
	}
	mustExit(t, runs[0], time.Minute, 0)
	bad := &kgo.Record{Topic: "segment-topic", Partition: 4, Value: []byte(`{"batch_id":1,"segment_id":4,"data":[3,2,1]}`)}
	if err := rawClient(t, addr).ProduceSync(context.Background(), bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := start(t, nil, "consume", "--log-format", "json", "--log-level", "debug", "-b", addr, "-e", "--from-beginning",
		"--out-file", filepath.Join(dir, "out.jsonl"), "--metrics-addr", "127.0.0.1:0")
	mustExit(t, c, time.Minute, 0)
	u := start(t, nil, "consume", "--log-format", "json", "--memory", "lots")
	mustExit(t, u, 30*time.Second, 2)
	runs = append(runs, c, u)
	for _, p := range runs {
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		sc.Buffer(nil, 1<<20)
		n := 0
		for sc.Scan() {
			n++
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%v: line %d is not JSON (%v): %s", p.cmd.Args[1:], n, err, sc.Text())
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("%v: line %d has no %q: %s", p.cmd.Args[1:], n, k, sc.Text())
				}
			}
		}
		if n == 0 {
			t.Fatalf("%v wrote nothing on stderr", p.cmd.Args[1:])
		}
	}
	if !strings.Contains(c.stderr.String(), `"reason"`) || !strings.Contains(u.stderr.String(), "--memory") {
		t.Fatalf("the bad record or the bad flag is not named:\n%s\n%s", c.stderr.String(), u.stderr.String())
	}
}
