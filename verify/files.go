package verify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/segmerge/segmerge/wire"
)

// Errors Run wraps when a file is not what Config says it is, so that a
// front end can say what to do about it. The file, and the line that
// gave it away, are in the message.
var (
	// ErrTextFormat: the output file is in the consumer's text format
	// ("batch 7: 1 2 9"), not JSON Lines.
	ErrTextFormat = errors.New("it looks like the text format")
	// ErrSwapped: the input log holds output records and the output file
	// input records.
	ErrSwapped = errors.New("the input log and the output file look swapped")
)

// lineKind is what a line looks like.
type lineKind int

const (
	lineOther  lineKind = iota // none of the below, or too long to tell
	lineInput                  // an input record: it has segment_id
	lineOutput                 // an output record: batch_id and data, no segment_id
	lineText                   // the consumer's text format: "batch 7: 1 2 9"
)

// lineKindOf says what line (without its newline) looks like. A prefix
// of a line, not whole, can only look like the text format.
func lineKindOf(line []byte, whole bool) lineKind {
	var dec wire.Decoder
	var s wire.Segment
	switch {
	case isTextLine(line):
		return lineText
	case !whole:
		return lineOther
	case dec.Decode(line, &s) == nil:
		return lineInput
	case dec.DecodeOutput(line, &s) == nil:
		return lineOutput
	}
	return lineOther
}

// isTextLine reports whether line starts as a text-format line does:
// "batch 7:".
func isTextLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("batch "))
	if !ok {
		return false
	}
	rest = bytes.TrimPrefix(rest, []byte("-"))
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	return n > 0 && n < len(rest) && rest[n] == ':'
}

// peekSize is how much of a file's first line firstLine reads: an input
// record or a text line is told by its start, and reading a file's first
// line must cost little when it is a batch of millions of values.
const peekSize = 64 << 10

// firstLine returns the first line of the file at path without its line
// end (nil for an empty file), or its first peekSize bytes if it is
// longer; whole says which.
func firstLine(path string) (line []byte, whole bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	buf := make([]byte, peekSize)
	n, err := io.ReadFull(f, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		whole = true
	case err != nil:
		return nil, false, err
	}
	line = buf[:n]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line, whole = line[:i], true
	}
	return bytes.TrimSuffix(line, []byte("\r")), whole, nil
}

// quoteLine quotes the start of a line for a message.
func quoteLine(line []byte) string {
	const show = 60
	if len(line) > show {
		return fmt.Sprintf("%q...", line[:show])
	}
	return fmt.Sprintf("%q", line)
}

// checkOutputFile returns an error if the output file at path is not one:
// if its first line is in the text format, or an input record.
func checkOutputFile(path string) error {
	line, whole, err := firstLine(path)
	if err != nil {
		return fmt.Errorf("read output file: %w", err)
	}
	switch lineKindOf(line, whole) {
	case lineText:
		return fmt.Errorf("output file %s is not JSON Lines output (%w): line 1 is %s", path, ErrTextFormat, quoteLine(line))
	case lineInput:
		return fmt.Errorf("output file %s is not the consumer's output: line 1 is an input record (it has segment_id): is it the producer's input log?", path)
	}
	return nil
}

// badInputLine returns the error for line n of the input log at path,
// which failed to decode with err: one that says what the line is if it
// is output (and that the files look swapped, if outFile's first line is
// an input record), else err with the line's place.
func badInputLine(path string, n int, line []byte, err error, outFile string) error {
	what := ""
	switch lineKindOf(line, true) {
	case lineOutput:
		what = "an output record (batch_id and data, no segment_id)"
	case lineText:
		what = "an output line in the text format"
	default:
		return fmt.Errorf("input log %s line %d: %w", path, n, err)
	}
	if n == 1 && outFile != "" {
		if out, whole, err := firstLine(outFile); err == nil && lineKindOf(out, whole) == lineInput {
			return fmt.Errorf("%w: input log %s line 1 is %s, and output file %s line 1 an input record (it has segment_id)",
				ErrSwapped, path, what, outFile)
		}
	}
	return fmt.Errorf("input log %s line %d is %s, not a record the producer writes: is it the consumer's output?", path, n, what)
}
