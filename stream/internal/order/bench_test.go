package order

import (
	"testing"
	"time"
)

// BenchmarkPushNext pushes records round robin over 16 partitions, keys
// ascending, and gives each out as soon as it may go: the hot path of a
// stream that keeps up.
func BenchmarkPushNext(b *testing.B) {
	const parts = 16
	t0 := time.Unix(0, 0)
	m := New(Config{Partitions: parts, Idle: -1}, State{Parts: make([]PartState, parts)}, t0)
	b.ReportAllocs()
	for i := range b.N {
		p := int32(i % parts)
		m.Push(Entry{Pos: Pos{Key: int64(i), Partition: p, Offset: int64(i / parts)}, Size: 100}, t0)
		for _, ok := m.Next(t0); ok; _, ok = m.Next(t0) {
		}
	}
}
