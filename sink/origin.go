package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/segmerge/segmerge/internal/setting"
)

// Claimer is a Sink that keeps what it writes (a file) and is told, before
// anything is written, where its batches come from (for a consumer: the
// topic, its id, the group, the layout). It refuses to go on with what it
// holds if that came from elsewhere.
type Claimer interface {
	Claim(origin string) error
}

// Claim implements Claimer for a file Writer: it records origin beside the
// file, in <path>.origin, and refuses (a *setting.Error naming OutFile) a
// file that holds batches and was written from another origin: resuming it
// would mix the two, and skip the new origin's batches by id as if written.
// A file with no record of its origin (new, or written before origins were
// kept) is taken as it is. Other Writers take any origin.
func (w *Writer) Claim(origin string) error {
	if w.file == nil {
		return nil
	}
	path := w.file.Name()
	side := path + ".origin"
	old, err := os.ReadFile(side)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read %s: %w", side, err)
	case w.written > 0 && string(bytes.TrimSpace(old)) != origin:
		return setting.Invalid("OutFile", path, "it was written from %s, and this run reads %s: resuming it would mix the two; write to another file, or start it afresh with {Overwrite}", bytes.TrimSpace(old), origin)
	}
	return writeAtomic(side, []byte(origin+"\n"))
}

// writeAtomic replaces path with data: a crash leaves the old file or the
// new one, whole.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("record the origin of %s: %w", path, err)
	}
	return nil
}
