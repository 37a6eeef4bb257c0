package merge

import (
	"errors"
	"io"
)

// tester is the part of testing.TB that readAll needs; *rapid.T has it too.
type tester interface {
	Helper()
	Fatalf(format string, args ...any)
}

// scriptSource yields a run as a fixed list of chunks (empty ones allowed),
// then an optional error, then io.EOF. It copies each chunk into one reused
// buffer after poisoning the whole buffer, so a Merger that kept reading a
// chunk after asking for the next one would see garbage.
type scriptSource struct {
	chunks  [][]int64
	err     error // returned instead of the chunk at index errAt
	errAt   int   // -1: never fail
	eofLast bool  // return the last chunk together with io.EOF

	buf    []int64
	calls  int // calls to Next
	afterE int // calls to Next after io.EOF or err was returned
	ended  bool
	closed int // calls to Close
	cerr   error
}

// errNextAfterEnd is what a scriptSource returns if Next is called again
// after it returned io.EOF or its error.
var errNextAfterEnd = errors.New("script source: Next called after the end of the run")

// poison is what a scriptSource writes over memory it has taken back.
const poison = -0x5EED

func newScript(chunks ...[]int64) *scriptSource {
	return &scriptSource{chunks: chunks, errAt: -1}
}

func (s *scriptSource) Next() ([]int64, error) {
	s.calls++
	if s.ended {
		// Report it, and fail the merge rather than let a Merger that
		// keeps calling spin forever.
		s.afterE++
		return nil, errNextAfterEnd
	}
	s.buf = s.buf[:cap(s.buf)]
	for i := range s.buf {
		s.buf[i] = poison
	}
	i := s.calls - 1
	if i == s.errAt {
		s.ended = true
		return nil, s.err
	}
	if i >= len(s.chunks) {
		s.ended = true
		return nil, io.EOF
	}
	s.buf = append(s.buf[:0], s.chunks[i]...)
	if s.eofLast && i == len(s.chunks)-1 {
		s.ended = true
		return s.buf, io.EOF
	}
	return s.buf, nil
}

func (s *scriptSource) Close() error {
	s.closed++
	return s.cerr
}

// readAll drains m with Read calls of len(buf) values and returns everything
// read and the error that stopped it (nil for io.EOF). It fails the test if
// Read breaks its own contract: n out of range, or n > 0 with an error.
func readAll(t tester, m *Merger, sizes []int) ([]int64, error) {
	t.Helper()
	var out []int64
	buf := make([]int64, 4096)
	for i := 0; ; i++ {
		size := sizes[i%len(sizes)]
		n, err := m.Read(buf[:size])
		if n < 0 || n > size {
			t.Fatalf("Read(%d values) = %d", size, n)
		}
		if n > 0 && err != nil {
			t.Fatalf("Read returned n=%d with error %v", n, err)
		}
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if n == 0 && size > 0 {
			t.Fatalf("Read(%d values) = 0, nil", size)
		}
	}
}
