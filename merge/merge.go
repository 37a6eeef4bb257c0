package merge

import "slices"

// Merge appends the merge of the given in-memory runs to dst and returns the
// extended slice. Each run must be ascending; Merge does not check, and if a
// run is not ascending the result still holds every value once but is not
// sorted. Duplicates are kept: the result grows by exactly the sum of the run
// lengths.
//
// Merge grows dst once, to its final length, and costs O(n log k) for n
// values in k runs. It allocates a [Merger] for k > 2; to merge many batches
// without allocating, keep a Merger and [Slice] sources and Reset them.
func Merge(dst []int64, runs ...[]int64) []int64 {
	total := 0
	for _, r := range runs {
		total += len(r)
	}
	dst = slices.Grow(dst, total)
	switch len(runs) {
	case 0:
		return dst
	case 1:
		return append(dst, runs[0]...)
	case 2:
		return merge2(dst, runs[0], runs[1])
	}
	srcs := make([]Slice, len(runs))
	ptrs := make([]Source, len(runs))
	for i, r := range runs {
		srcs[i].Reset(r)
		ptrs[i] = &srcs[i]
	}
	m := New(ptrs...)
	out := dst[len(dst) : len(dst)+total]
	for n := 0; n < total; {
		c, err := m.Read(out[n:])
		if err != nil {
			panic("merge: in-memory merge failed: " + err.Error()) // Slice sources cannot fail
		}
		n += c
	}
	return dst[:len(dst)+total]
}

// merge2 appends the merge of a and b to dst, which has room for both. On
// equal values a goes first, as in a Merger.
func merge2(dst, a, b []int64) []int64 {
	for len(a) > 0 && len(b) > 0 {
		if b[0] < a[0] {
			dst = append(dst, b[0])
			b = b[1:]
		} else {
			dst = append(dst, a[0])
			a = a[1:]
		}
	}
	dst = append(dst, a...)
	return append(dst, b...)
}
