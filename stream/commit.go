package stream

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/segmerge/segmerge/stream/internal/order"
)

// The metadata of every offset the stream commits holds what a restart
// needs besides the offset (see order.State): the last record written
// (key/partition/offset), the partition's previous key as of the offset,
// the output file's length, and the input topic's id:
// "segmerge-stream:last=1700000000123/3/88,prev=1700000000120,file=5120,topic=5f0c...".
// Every partition committed in a transaction carries the same last record
// and file length; a partition committed in an earlier one carries older
// ones, so a restart takes the highest.
const (
	metaPrefix = "segmerge-stream:"
	metaLast   = "last="
	metaPrev   = "prev="
	metaFile   = "file="
	metaTopic  = "topic="
)

// commitMeta is what one partition's commit metadata says.
type commitMeta struct {
	last              order.Pos
	prev              int64
	file              int64
	topicID           string
	hasLast, hasPrev  bool
	hasFile, isStream bool
}

func (m commitMeta) String() string {
	var b strings.Builder
	b.WriteString(metaPrefix)
	sep := ""
	add := func(k, v string) {
		b.WriteString(sep)
		b.WriteString(k)
		b.WriteString(v)
		sep = ","
	}
	if m.hasLast {
		add(metaLast, fmt.Sprintf("%d/%d/%d", m.last.Key, m.last.Partition, m.last.Offset))
	}
	if m.hasPrev {
		add(metaPrev, strconv.FormatInt(m.prev, 10))
	}
	if m.hasFile {
		add(metaFile, strconv.FormatInt(m.file, 10))
	}
	if m.topicID != "" {
		add(metaTopic, m.topicID)
	}
	return b.String()
}

// parseMeta reads a commit's metadata; isStream is false for one this
// stage did not write (another tool's, or another stage's), and a part it
// cannot read is left out.
func parseMeta(s string) commitMeta {
	var m commitMeta
	rest, ok := strings.CutPrefix(s, metaPrefix)
	if !ok {
		return m
	}
	m.isStream = true
	for kv := range strings.SplitSeq(rest, ",") {
		switch {
		case strings.HasPrefix(kv, metaLast):
			f := strings.Split(kv[len(metaLast):], "/")
			if len(f) != 3 {
				continue
			}
			k, err1 := strconv.ParseInt(f[0], 10, 64)
			p, err2 := strconv.ParseInt(f[1], 10, 32)
			o, err3 := strconv.ParseInt(f[2], 10, 64)
			if err1 == nil && err2 == nil && err3 == nil {
				m.last, m.hasLast = order.Pos{Key: k, Partition: int32(p), Offset: o}, true
			}
		case strings.HasPrefix(kv, metaPrev):
			if v, err := strconv.ParseInt(kv[len(metaPrev):], 10, 64); err == nil {
				m.prev, m.hasPrev = v, true
			}
		case strings.HasPrefix(kv, metaFile):
			if v, err := strconv.ParseInt(kv[len(metaFile):], 10, 64); err == nil && v >= 0 {
				m.file, m.hasFile = v, true
			}
		case strings.HasPrefix(kv, metaTopic):
			m.topicID = kv[len(metaTopic):]
		}
	}
	return m
}
