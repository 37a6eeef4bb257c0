package assemble

import (
	"math/rand/v2"
	"testing"
)

// A fingerprint changes with any one value, in any lane or the tail, with
// the last flag, and with the length (a zero more), and it is never 0.
func TestFingerprintSeesEveryChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 13 {
		data := make([]int64, n)
		for i := range data {
			data[i] = rng.Int64N(1e9)
		}
		r := &Record{Data: data}
		base := fingerprint(r)
		if base == 0 {
			t.Fatalf("n=%d: fingerprint 0", n)
		}
		for i := range data {
			for _, delta := range []int64{1, 1 << 40, -1 << 62} {
				data[i] += delta
				if fingerprint(r) == base {
					t.Fatalf("n=%d: value %d changed by %d, same fingerprint", n, i, delta)
				}
				data[i] -= delta
			}
		}
		if n >= 2 && data[0] != data[1] {
			data[0], data[1] = data[1], data[0]
			if fingerprint(r) == base {
				t.Fatalf("n=%d: first two values swapped, same fingerprint", n)
			}
			data[0], data[1] = data[1], data[0]
		}
		r.Last = true
		if fingerprint(r) == base {
			t.Fatalf("n=%d: last flag set, same fingerprint", n)
		}
		longer := &Record{Data: append(append([]int64(nil), data...), 0)}
		if fingerprint(longer) == base {
			t.Fatalf("n=%d: a zero appended, same fingerprint", n)
		}
	}
}

func BenchmarkFingerprint(b *testing.B) {
	data := make([]int64, 10000)
	for i := range data {
		data[i] = int64(i) * 99991
	}
	r := &Record{Data: data}
	b.SetBytes(8 * int64(len(data)))
	for b.Loop() {
		fingerprint(r)
	}
}
