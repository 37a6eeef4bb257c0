package feed

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// Checker checks what segmerge stream wrote from a feed: every value a
// feed record, in ascending (ts, p, seq) order (seq is the record's offset
// in a topic the feed created), none twice. The zero value is ready.
type Checker struct {
	prev rec
	n    int64
	seen map[[2]int64]bool
	err  error
}

type rec struct {
	P   int64 `json:"p"`
	Seq int64 `json:"seq"`
	Ts  int64 `json:"ts"`
}

// Add checks the next value written; the first problem is kept (Err).
func (c *Checker) Add(value []byte) {
	if c.err != nil {
		return
	}
	var r rec
	if err := json.Unmarshal(value, &r); err != nil {
		c.err = fmt.Errorf("record %d: %q is not a feed record: %w", c.n, value, err)
		return
	}
	if c.seen == nil {
		c.seen = map[[2]int64]bool{}
	}
	k := [2]int64{r.P, r.Seq}
	switch {
	case c.seen[k]:
		c.err = fmt.Errorf("record %d: partition %d's record %d written twice", c.n, r.P, r.Seq)
	case c.n > 0 && (r.Ts < c.prev.Ts || r.Ts == c.prev.Ts && (r.P < c.prev.P || r.P == c.prev.P && r.Seq < c.prev.Seq)):
		c.err = fmt.Errorf("record %d: %s after %+v: out of order", c.n, value, c.prev)
	}
	c.seen[k] = true
	c.prev = r
	c.n++
}

// Count is how many values were added.
func (c *Checker) Count() int64 { return c.n }

// Err is the first problem found, if any.
func (c *Checker) Err() error { return c.err }

// EachLine hands each line of path, a file segmerge stream wrote (say, to
// Checker.Add), to add; a line may be up to 1 MiB.
func EachLine(path string, add func([]byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		add(sc.Bytes())
	}
	return sc.Err()
}
