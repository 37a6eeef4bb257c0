package verify

import (
	"fmt"
	"sort"
	"strings"
)

// Report is the outcome.
type Report struct {
	Batches    int64 // batches expected and found correct
	Integers   int64
	Expected   int64 // batches complete in the input log
	Incomplete int64 // batches incomplete in the input log (not expected)
	// Partial is the length of the input log's last line when it is
	// partial: no newline ends it and it is no whole record. A producer
	// writing the log, or killed as it wrote, leaves one; verify ignores
	// it and says so.
	Partial int64
	// Problems are the mismatches found, in batch order: the first
	// perKind (3) of each kind, the last of which counts in More the
	// problems of its kind left out.
	Problems []Problem
}

// Problem is one mismatch, or the first of a kind of them.
type Problem struct {
	Batch int64 // the batch at fault; -1 for an output line or record that is no batch
	Msg   string
	// More counts the problems of the same kind as this one that the
	// report leaves out; only the last problem of a kind kept has any.
	More int64
	kind kind
}

// perKind is how many problems of one kind a Report keeps: enough to show
// what goes wrong, without a line for each of a million bad batches.
const perKind = 3

// kind is a class of problem: the report keeps perKind of each.
type kind string

// Kinds of problem. A line or record that is no output record is of kind
// "line " or "record " followed by its wire reason.
const (
	kindMissing kind = "missing"
	kindRepeat  kind = "repeat"
	kindOrder   kind = "order"
	kindForeign kind = "foreign"
	kindDiffer  kind = "differ"
	kindChunks  kind = "chunks"
)

// kindNames says a problem of each kind, singular and plural, for "... and
// N more".
var kindNames = map[kind][2]string{
	kindMissing: {"batch missing from the output", "batches missing from the output"},
	kindRepeat:  {"batch that appears more than once", "batches that appear more than once"},
	kindOrder:   {"batch out of ascending order", "batches out of ascending order"},
	kindForeign: {"batch that is no complete batch of the input log", "batches that are no complete batch of the input log"},
	kindDiffer:  {"batch that differs from its input", "batches that differ from their input"},
	kindChunks:  {"batch whose chunks do not join", "batches whose chunks do not join"},
}

// noun says problems of kind k, n of them: "batches missing from the
// output" (n > 1), "batch missing from the output" (n == 1).
func (k kind) noun(n int64) string {
	one := n == 1
	if names, ok := kindNames[k]; ok {
		if one {
			return names[0]
		}
		return names[1]
	}
	unit, reason, _ := strings.Cut(string(k), " ") // a bad line or record
	if one {
		return fmt.Sprintf("%s that fails the same way (%s)", unit, reason)
	}
	return fmt.Sprintf("%ss that fail the same way (%s)", unit, reason)
}

// plural says n things: "1 batch", "2 batches" (with one "batch", many
// "batches").
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// problems gathers a report's problems, perKind of each kind.
type problems struct {
	kept []Problem
	n    map[kind]int64 // problems found, by kind
}

// add records a problem of kind k with batch id.
func (ps *problems) add(k kind, id int64, format string, args ...any) {
	if ps.n == nil {
		ps.n = map[kind]int64{}
	}
	ps.n[k]++
	if ps.n[k] <= perKind {
		ps.kept = append(ps.kept, Problem{Batch: id, Msg: fmt.Sprintf(format, args...), kind: k})
	}
}

// sorted returns the problems kept, in batch order (stable: each kind in
// the order found), the last of each kind with More set.
func (ps *problems) sorted() []Problem {
	sort.SliceStable(ps.kept, func(i, j int) bool { return ps.kept[i].Batch < ps.kept[j].Batch })
	last := map[kind]int{}
	for i, p := range ps.kept {
		last[p.kind] = i
	}
	for k, i := range last {
		ps.kept[i].More = ps.n[k] - perKind
		if ps.kept[i].More < 0 {
			ps.kept[i].More = 0
		}
	}
	return ps.kept
}

// OK reports whether the output matched.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Count returns the number of problems found, those left out included.
func (r *Report) Count() int64 {
	n := int64(len(r.Problems))
	for _, p := range r.Problems {
		n += p.More
	}
	return n
}

// Summary is a one-line account of the report.
func (r *Report) Summary() string {
	if r.OK() {
		s := fmt.Sprintf("verify: OK: %s, %s, each once and equal to its input",
			plural(r.Batches, "batch", "batches"), plural(r.Integers, "integer", "integers"))
		if r.Incomplete > 0 {
			s += fmt.Sprintf(" (%s in the input log, not expected)",
				plural(r.Incomplete, "batch incomplete", "batches incomplete"))
		}
		return s + r.partialNote()
	}
	return fmt.Sprintf("verify: FAILED: %s in %s; first: %s",
		plural(r.Count(), "problem", "problems"), plural(r.Expected, "expected batch", "expected batches"),
		r.Problems[0]) + r.partialNote()
}

// Details says the report's problems, one a line, each kind's problems
// left out in a line "... and N more ..." after the last kept.
func (r *Report) Details() []string {
	var lines []string
	for _, p := range r.Problems {
		lines = append(lines, p.String())
		if p.More > 0 {
			lines = append(lines, fmt.Sprintf("... and %d more %s", p.More, p.kind.noun(p.More)))
		}
	}
	return lines
}

// String says p: "batch 7: missing from the output", or the message alone
// when p is no batch's.
func (p Problem) String() string {
	if p.Batch < 0 {
		return p.Msg
	}
	return fmt.Sprintf("batch %d: %s", p.Batch, p.Msg)
}

// partialNote says that the input log's partial last line was ignored, if
// it was.
func (r *Report) partialNote() string {
	if r.Partial == 0 {
		return ""
	}
	return fmt.Sprintf("; the input log ends in a partial line (%s), ignored: a producer is writing it, or died writing it",
		plural(r.Partial, "byte", "bytes"))
}
