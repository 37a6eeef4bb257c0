package stream

import (
	"testing"

	"github.com/segmerge/segmerge/stream/internal/order"
)

func TestCommitMetaRoundTrip(t *testing.T) {
	for _, m := range []commitMeta{
		{isStream: true},
		{isStream: true, last: order.Pos{Key: -5, Partition: 3, Offset: 88}, hasLast: true, prev: -7, hasPrev: true, file: 5120, hasFile: true, topicID: "5f0c"},
		{isStream: true, last: order.Pos{Key: 1700000000123, Partition: 0, Offset: 0}, hasLast: true},
	} {
		if got := parseMeta(m.String()); got != m {
			t.Fatalf("%q parsed as %+v, want %+v", m.String(), got, m)
		}
	}
	if m := parseMeta("segmerge:floor=12"); m.isStream || m.hasLast {
		t.Fatalf("the merge stage's metadata parsed as the stream's: %+v", m)
	}
}

// FuzzParseMeta: any metadata string parses without panicking, and what
// it says survives being written and parsed again.
func FuzzParseMeta(f *testing.F) {
	f.Add("segmerge-stream:last=1700000000123/3/88,prev=1700000000120,file=5120,topic=5f0c")
	f.Add("segmerge-stream:last=1/2,prev=x,file=-1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		m := parseMeta(s)
		if !m.isStream || m.topicID != "" {
			return // a topic id with a comma in it does not round-trip, and needs not
		}
		if again := parseMeta(m.String()); again != m {
			t.Fatalf("%q parsed as %+v, written %q, parsed again as %+v", s, m, m.String(), again)
		}
	})
}
