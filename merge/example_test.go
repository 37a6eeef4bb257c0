package merge_test

import (
	"errors"
	"fmt"
	"io"

	"github.com/segmerge/segmerge/merge"
)

// chunked is a Source that hands out its run a few values at a time, the way
// a reader decoding one Kafka record after another would.
type chunked struct {
	run  []int64
	size int
}

func (c *chunked) Next() ([]int64, error) {
	if len(c.run) == 0 {
		return nil, io.EOF
	}
	n := min(c.size, len(c.run))
	chunk := c.run[:n]
	c.run = c.run[n:]
	return chunk, nil
}

// A streaming merge: Read fills a small buffer again and again until io.EOF.
// Duplicates are kept, and the chunked source is pulled only as needed.
func Example() {
	m := merge.New(
		merge.SliceSource([]int64{1, 4, 9}),
		&chunked{run: []int64{2, 3, 4, 8, 13}, size: 2},
		merge.SliceSource([]int64{-7, 4}),
	)
	defer m.Close()

	buf := make([]int64, 4)
	for {
		n, err := m.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("merge failed:", err)
			return
		}
		fmt.Println(buf[:n])
	}
	// Output:
	// [-7 1 2 3]
	// [4 4 4 8]
	// [9 13]
}

// A source whose next chunk goes backwards stops the merge; the error names
// the source, and errors.Is and errors.As see through it.
func Example_unsorted() {
	m := merge.New(
		merge.SliceSource([]int64{1, 2, 3}),
		&chunked{run: []int64{5, 9, 4}, size: 2}, // chunks [5 9] then [4]
	)
	buf := make([]int64, 10)
	var err error
	for err == nil {
		var n int
		n, err = m.Read(buf)
		fmt.Println(buf[:n])
	}
	var se *merge.SourceError
	fmt.Println(err)
	fmt.Println(errors.Is(err, merge.ErrUnsorted), errors.As(err, &se) && se.Source == 1)
	// Output:
	// [1 2 3 5 9]
	// []
	// merge: source 1: chunk starts at 4 after 9: run not ascending
	// true true
}

func ExampleMerge() {
	out := merge.Merge(nil, []int64{1, 5}, []int64{2, 2, 9}, nil, []int64{5})
	fmt.Println(out)
	// Output: [1 2 2 5 5 9]
}
