package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/producer"
	"github.com/segmerge/segmerge/verify"
)

// The original take-home's producer, written with confluent_kafka: delete
// the topic if present, create it, write batches of 10 sorted segments
// (segment s on partition s). segmerge merges what it wrote and verify
// passes against the script's input log. The script runs twice, so the
// second run deletes a topic that exists, and only its batches are read.
func TestPythonProducer(t *testing.T) {
	requireTools(t, confluentKafka)
	c := cluster(t)
	const (
		topic   = "py-in"
		batches = 200
	)
	var input string
	for i, seed := range []int{1, 2} {
		input = filepath.Join(t.TempDir(), "input.jsonl")
		t.Logf("run %d, seed %d: %s", i, seed, strings.TrimSpace(run(t, "", python, "testdata/produce.py", c.Bootstrap(), topic, strconv.Itoa(batches), strconv.Itoa(seed), input)))
	}
	log, err := os.ReadFile(input)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(lines(string(log))); n != batches*10 {
		t.Fatalf("input log holds %d records, want %d", n, batches*10)
	}

	out := filepath.Join(t.TempDir(), "out.jsonl")
	st := consume(t, c, topic, out, nil)
	if st.Batches != batches || st.Bad != 0 || st.Duplicates != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v: want %d batches, nothing bad, duplicated or pending (is the first run's data gone?)", st, batches)
	}
	if n := verifyOK(t, verify.Config{InputLog: input, OutFile: out}); n != batches {
		t.Fatalf("verified %d batches, want %d", n, batches)
	}
}

// segmerge produces and writes its merged batches to an output topic; a
// confluent_kafka consumer (read_committed, from the earliest offset) reads
// that topic to its end and finds every batch exactly once, keyed by id.
func TestPythonReadsOutputTopic(t *testing.T) {
	requireTools(t, confluentKafka)
	c := cluster(t)
	const (
		batches = 150
		output  = "merged"
	)
	input := filepath.Join(t.TempDir(), "input.jsonl")
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	cfg := producer.DefaultConfig()
	cfg.Brokers, cfg.Batches, cfg.Seed, cfg.InputLog = c.Addrs(), batches, 7, f
	pst, err := producer.Run(ctx(t), cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if pst.Batches != batches {
		t.Fatalf("produced %d batches, want %d", pst.Batches, batches)
	}
	st := consume(t, c, cfg.Topic, "", func(cc *consumer.Config) { cc.OutputTopic = output })
	if st.Batches != batches {
		t.Fatalf("consumer wrote %d batches, want %d (stats %+v)", st.Batches, batches, st)
	}

	got := run(t, "", python, "testdata/consume.py", c.Bootstrap(), output, "py-reader")
	seen := map[int64]int{}
	for _, l := range lines(got) {
		var key string
		var id int64
		if _, err := fmt.Sscan(l, &key, &id); err != nil {
			t.Fatalf("consume.py line %q: %v", l, err)
		}
		if key != strconv.FormatInt(id, 10) {
			t.Errorf("record of batch %d has key %q", id, key)
		}
		seen[id]++
	}
	for id := pst.FirstBatch; id < pst.FirstBatch+batches; id++ {
		if seen[id] != 1 {
			t.Errorf("batch %d read %d times, want once", id, seen[id])
		}
		delete(seen, id)
	}
	if len(seen) != 0 {
		t.Errorf("batches read that were never produced: %v", seen)
	}
	if n := verifyOK(t, verify.Config{InputLog: input, Brokers: c.Addrs(), Topic: output}); n != batches {
		t.Fatalf("verified %d batches, want %d", n, batches)
	}
}
