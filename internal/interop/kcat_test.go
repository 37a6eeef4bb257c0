package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/segmerge/segmerge/consumer"
)

// Records in the original format (batch_id, segment_id, data and nothing
// else), written by kcat one call per partition, segment s on partition
// s mod P with P smaller than the segment count: segmerge merges each batch
// exactly, in order.
func TestKcatWritesOriginalFormat(t *testing.T) {
	requireTools(t, kcat)
	c := cluster(t)
	const (
		topic    = "kcat-in"
		parts    = 4
		segments = 10
		batches  = 5
	)
	createTopic(t, c, topic, parts)

	// Segment s of batch b holds b*100 + s + 10*k, k < 1+(s+b)%3, so
	// segments interleave and differ in length; want is their sorted union.
	perPart := make([][]string, parts)
	var want []string
	for b := range batches {
		var all []int
		for s := range segments {
			var data []int
			for k := range 1 + (s+b)%3 {
				data = append(data, b*100+s+10*k)
			}
			all = append(all, data...)
			perPart[s%parts] = append(perPart[s%parts],
				fmt.Sprintf(`{"batch_id":%d,"segment_id":%d,"data":[%s]}`, b, s, join(data)))
		}
		slices.Sort(all)
		want = append(want, fmt.Sprintf(`{"batch_id":%d,"data":[%s]}`, b, join(all)))
	}
	for p, recs := range perPart {
		run(t, strings.Join(recs, "\n")+"\n", "kcat", "-P", "-b", c.Bootstrap(), "-t", topic, "-p", strconv.Itoa(p))
	}

	out := filepath.Join(t.TempDir(), "out.jsonl")
	st := consume(t, c, topic, out, func(cfg *consumer.Config) { cfg.Segments = segments })
	if st.Batches != batches || st.Bad != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v: want %d batches, none bad or pending", st, batches)
	}
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(string(body)); !slices.Equal(got, want) {
		t.Fatalf("output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Guard the model above: batch 0 spelled out.
	if want[0] != `{"batch_id":0,"data":[0,1,2,3,4,5,6,7,8,9,11,12,14,15,17,18,22,25,28]}` {
		t.Fatalf("model's batch 0 is %s", want[0])
	}
}

// join renders vs as a JSON array's contents.
func join(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

// kcat reads the dead-letter topic: each bad record written by kcat is there
// unchanged, with segmerge's reason and source headers.
func TestKcatReadsDeadLetters(t *testing.T) {
	requireTools(t, kcat)
	c := cluster(t)
	const topic = "kcat-bad"
	createTopic(t, c, topic, 2)
	run(t, `{"batch_id":0,"segment_id":0,"data":[1,4]}
not json
{"batch_id":1,"segment_id":0,"data":[5]}
`, "kcat", "-P", "-b", c.Bootstrap(), "-t", topic, "-p", "0")
	run(t, `{"batch_id":0,"segment_id":1,"data":[3,1]}
{"batch_id":0,"segment_id":1,"data":[2,3]}
{"batch_id":1,"segment_id":1,"data":[6]}
`, "kcat", "-P", "-b", c.Bootstrap(), "-t", topic, "-p", "1")

	out := filepath.Join(t.TempDir(), "out.jsonl")
	st := consume(t, c, topic, out, func(cfg *consumer.Config) { cfg.Segments = 2 })
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"batch_id\":0,\"data\":[1,2,3,4]}\n{\"batch_id\":1,\"data\":[5,6]}\n"; string(body) != want || st.Bad != 2 {
		t.Fatalf("output:\n%s\nwant:\n%s\nstats %+v: want 2 bad", body, want, st)
	}

	dlq := run(t, "", "kcat", "-C", "-b", c.Bootstrap(), "-t", topic+".dlq", "-e", "-q", "-f", "%h\t%s\n")
	t.Logf("kcat -C -t %s.dlq -f '%%h\\t%%s\\n':\n%s", topic, dlq)
	// %h is name=value joined by commas, and an error message may hold
	// commas too: match the error loosely.
	got := lines(dlq)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`^segmerge\.reason=not-json,segmerge\.error=[^\t]+,segmerge\.source=kcat-bad/0@1,segmerge\.group=interop-kcat-bad` + "\t" + `not json$`),
		regexp.MustCompile(`^segmerge\.reason=unsorted,segmerge\.error=[^\t]+,segmerge\.source=kcat-bad/1@0,segmerge\.group=interop-kcat-bad` + "\t" + regexp.QuoteMeta(`{"batch_id":0,"segment_id":1,"data":[3,1]}`) + `$`),
	} {
		if !slices.ContainsFunc(got, want.MatchString) {
			t.Errorf("no dead letter matches %s", want)
		}
	}
	if len(got) != 2 {
		t.Errorf("dead-letter topic holds %d records, want 2", len(got))
	}
}

// kcat -L sees the embedded cluster as a Kafka cluster: three brokers at the
// addresses it listens on, and the topics created, with their partitions.
func TestKcatListsCluster(t *testing.T) {
	requireTools(t, kcat)
	c := cluster(t)
	createTopic(t, c, "listed-a", 3)
	createTopic(t, c, "listed-b", 7)
	md := run(t, "", "kcat", "-L", "-b", c.Bootstrap())
	t.Logf("kcat -L:\n%s", md)

	brokerLine := regexp.MustCompile(`^\s*broker \d+ at (\S+)`)
	var addrs []string
	for _, l := range lines(md) {
		if m := brokerLine.FindStringSubmatch(l); m != nil {
			addrs = append(addrs, m[1])
		}
	}
	slices.Sort(addrs)
	want := slices.Sorted(slices.Values(c.Addrs()))
	if !slices.Equal(addrs, want) {
		t.Errorf("brokers listed at %v, want %v", addrs, want)
	}
	for _, s := range []string{" 3 brokers:", `topic "listed-a" with 3 partitions:`, `topic "listed-b" with 7 partitions:`} {
		if !strings.Contains(md, s) {
			t.Errorf("kcat -L output lacks %q", s)
		}
	}
}
