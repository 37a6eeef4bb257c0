package wire

// Segment is one decoded record: a segment, or one chunk of a segment, of
// batch BatchID. The zero value is not a valid record; Decode fills every
// field, defaults included.
type Segment struct {
	BatchID   int64   // >= 0
	SegmentID int64   // >= 0; 0 for output records, which have no segment
	Segments  int64   // how many segments the batch has; 0 when absent (the consumer's default applies), else >= 1
	Chunk     int64   // index of this chunk within the segment, >= 0; default 0
	Last      bool    // this chunk ends the segment; default true
	Data      []int64 // non-decreasing; after Decode it aliases the Decoder's buffer, valid until the next call
}

// Whole reports whether s is a whole segment in one record (Chunk 0 and
// Last), the form that AppendSegment writes without "chunk" and "last".
func (s *Segment) Whole() bool {
	return s.Chunk == 0 && s.Last
}
