package stream

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// outFile is the stream's output file: a value a line, buffered, fsynced
// before each commit, its committed length kept in the commit metadata so
// that a restart cuts off what a crashed run wrote after its last commit.
type outFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	size int64 // bytes written, buffered ones included
}

func openFile(path string) (*outFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &outFile{path: path, f: f, w: bufio.NewWriterSize(f, 256<<10), size: size}, nil
}

// line writes value and a newline.
func (o *outFile) line(value []byte) error {
	o.w.Write(value)
	err := o.w.WriteByte('\n')
	o.size += int64(len(value)) + 1
	return err
}

// sync makes everything written durable and returns the file's length.
func (o *outFile) sync() (int64, error) {
	if err := o.w.Flush(); err != nil {
		return 0, fmt.Errorf("write %s: %w", o.path, err)
	}
	if err := o.f.Sync(); err != nil {
		return 0, fmt.Errorf("fsync %s: %w", o.path, err)
	}
	return o.size, nil
}

// cut drops what was written past n bytes, the length the group
// committed.
func (o *outFile) cut(n int64) error {
	o.w.Reset(o.f)
	size, err := o.f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	switch {
	case size < n:
		return fmt.Errorf("%s holds %d bytes, less than the %d the group committed to it: it was cut or replaced since", o.path, size, n)
	case size > n:
		if err := o.f.Truncate(n); err != nil {
			return err
		}
		if _, err := o.f.Seek(n, io.SeekStart); err != nil {
			return err
		}
	}
	o.size = n
	return nil
}

func (o *outFile) close() error { return o.f.Close() }
