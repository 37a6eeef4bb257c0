package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// compression.type (or librdkafka's compression.codec) sets the codec the
// record batches a client produces are written with; without it they are
// snappy, franz-go's default. The codec is read back from the batches on
// the broker, not from the client's settings.
func TestCompressionProperty(t *testing.T) {
	c := oneBroker(t, 1, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		key, value string
		want       uint8 // the record batch's codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
	}{
		{"", "", 2},
		{"compression.type", "none", 0},
		{"compression.type", "ZSTD", 4},
		{"compression.codec", "lz4", 3},
		{"compression.type", "gzip", 1},
	} {
		var p Props
		if tc.key != "" {
			if err := p.Set(tc.key, tc.value, "-X"); err != nil {
				t.Fatal(err)
			}
		}
		opts, _, err := p.Options(nil)
		if err != nil {
			t.Fatalf("%s=%s: %v", tc.key, tc.value, err)
		}
		cl, err := Cluster{Brokers: c.ListenAddrs(), Opts: opts}.Client()
		if err != nil {
			t.Fatal(err)
		}
		// A value that compresses, so that no codec is skipped for
		// gaining nothing.
		v := make([]byte, 4096)
		for i := range v {
			v[i] = byte('0' + i%10)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}
	cl, err := Cluster{Brokers: c.ListenAddrs()}.Client(kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []uint8
	for len(got) < 5 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r.Attrs.CompressionType()) })
	}
	want := []uint8{2, 0, 4, 3, 1}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("codecs %v, want %v", got, want)
		}
	}
}
