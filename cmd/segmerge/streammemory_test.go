package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/cmd/segmerge/internal/bench"
)

// skewed is the input of TestStreamRSSWithinBudgetUnderSkew: parts
// partitions of per records of size bytes, partition 0's timestamps all
// before every other partition's. The others' timestamps tie record for
// record (the i-th of each is the same), so that equal keys go out by
// partition.
type skewed struct {
	parts, per, size int
	pad              []byte
}

func newSkewed(parts, per, size int) skewed {
	return skewed{parts: parts, per: per, size: size, pad: bytes.Repeat([]byte("x"), size)}
}

// ts is the timestamp of partition p's record i, in milliseconds.
func (s skewed) ts(p, i int) int64 {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	if p == 0 {
		return base + int64(i)
	}
	return base + int64(s.per) + int64(i)
}

// value appends partition p's record i to buf: a JSON object of s.size
// bytes that says where it was written.
func (s skewed) value(buf []byte, p, i int) []byte {
	n := len(buf)
	buf = fmt.Appendf(buf, `{"p":%d,"seq":%d,"ts":%d,"pad":"`, p, i, s.ts(p, i))
	return append(append(buf, s.pad[:s.size-(len(buf)-n)-2]...), `"}`...)
}

// produce creates topic with s.parts partitions and writes s to it,
// partitions interleaved, without compression: a fetch's limits count the
// bytes on the wire, and input that compresses well would test the
// compression ratio, not the skew.
func (s skewed) produce(t *testing.T, addr, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(addr, ",")...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, int32(s.parts), -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var (
		once  sync.Once
		first error
	)
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			once.Do(func() { first = err })
		}
	}
	for i := range s.per {
		for p := range s.parts {
			cl.Produce(ctx, &kgo.Record{Partition: int32(p), Value: s.value(nil, p, i), Timestamp: time.UnixMilli(s.ts(p, i))}, done)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if first != nil {
		t.Fatal(first)
	}
}

// check fails unless the file at path holds s's values in key order, each
// once: partition 0's, then the others' by timestamp, then partition.
func (s skewed) check(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var want []byte
	n := 0
	next := func(p, i int) {
		line, err := r.ReadSlice('\n')
		if err != nil {
			t.Fatalf("line %d of %s: %v; want partition %d's record %d", n, path, err, p, i)
		}
		want = append(s.value(want[:0], p, i), '\n')
		if !bytes.Equal(line, want) {
			t.Fatalf("line %d of %s is %.60s...; want partition %d's record %d, %.60s...", n, path, line, p, i, want)
		}
		n++
	}
	for i := range s.per {
		next(0, i)
	}
	for i := range s.per {
		for p := 1; p < s.parts; p++ {
			next(p, i)
		}
	}
	if extra, err := r.ReadSlice('\n'); err != io.EOF {
		t.Fatalf("%s goes on after its %d records: %.60s...", path, n, extra)
	}
}

// gauges polls the stream's /metrics at base until stop is closed and
// returns the largest held bytes and paused partitions it saw.
func gauges(base string, stop <-chan struct{}) (held, paused int64) {
	for {
		if code, body := get(base, "/metrics"); code == 200 {
			for _, l := range strings.Split(body, "\n") {
				name, v, ok := strings.Cut(l, " ")
				n, err := strconv.ParseFloat(v, 64)
				if !ok || err != nil {
					continue
				}
				switch name {
				case "segmerge_held_bytes":
					held = max(held, int64(n))
				case "segmerge_paused_partitions":
					paused = max(paused, int64(n))
				}
			}
		}
		select {
		case <-stop:
			return held, paused
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The stream's RSS stays within --memory under skew. Four partitions of
// 128 MiB (32,768 records of 4 KiB), partition 0's timestamps all before
// the others': no record of partitions 1-3 may go out until partition 0
// is read to its end, so a stream reading every partition as fast as the
// broker serves them would hold about 384 MiB, three times the budget,
// when partition 0 ends. `segmerge stream -e --memory 128MiB --out-file`
// runs as a process of its own built without -race (see measured), as is
// the broker, so that the figure is the stream's alone. Its peak RSS
// (VmHWM, from --stats-file) stays within 128 MiB, it paused partitions on
// the way, and the file holds every record once, in key order.
func TestStreamRSSWithinBudgetUnderSkew(t *testing.T) {
	const budget = 128 << 20
	dir := t.TempDir()
	_, addr := brokerProcBin(t, measured(t), filepath.Join(dir, "data"))
	in := newSkewed(4, 32<<10, 4<<10)
	began := time.Now()
	in.produce(t, addr, "skewed")
	produced := time.Since(began)

	out, stats := filepath.Join(dir, "ordered.jsonl"), filepath.Join(dir, "stats.json")
	s := startBin(t, measured(t), nil, "stream", "-b", addr, "-t", "skewed", "--from-beginning", "-e", "--memory", "128MiB",
		"--out-file", out, "--stats-file", stats, "--metrics-addr", "127.0.0.1:0")
	base := metricsURL(t, s)
	stop := make(chan struct{})
	var held, paused int64
	var wg sync.WaitGroup
	wg.Go(func() { held, paused = gauges(base, stop) })
	code := s.wait(t, 2*time.Minute)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("stream: exit %d\n%s", code, s.stderr.String())
	}
	var st bench.ChildReport
	b, _ := os.ReadFile(stats)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("stats %q: %v", b, err)
	}
	mb := float64(in.parts*in.per*in.size) / (1 << 20)
	t.Logf("produced %.0f MiB in %v; streamed %d records in %.2fs at --memory 128MiB: peak RSS %.1f MiB, held at most %.1f MiB, at most %d partitions paused",
		mb, produced.Round(time.Millisecond), st.Records, st.Seconds, float64(st.PeakRSS)/(1<<20), float64(held)/(1<<20), paused)
	switch {
	case st.PeakRSS == 0:
		t.Fatal("the stream reported no peak RSS")
	case st.PeakRSS > budget:
		t.Errorf("peak RSS %.1f MiB passed --memory 128MiB", float64(st.PeakRSS)/(1<<20))
	}
	if paused == 0 {
		t.Error("no partition was paused: the skew did not make the stream hold records")
	}
	if st.Records != int64(in.parts*in.per) {
		t.Fatalf("%d records streamed, want %d", st.Records, in.parts*in.per)
	}
	in.check(t, out)
}
