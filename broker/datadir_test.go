package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var threeFree = []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}

// One Cluster at a time on a data dir, in one process as across them; the
// next starts once the first is closed.
func TestOneClusterPerDataDir(t *testing.T) {
	dir := t.TempDir()
	c, err := Start(Config{Listen: threeFree, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c2, err := Start(Config{Listen: threeFree, DataDir: dir}); err == nil {
		c2.Close()
		t.Fatal("a second cluster started on a data dir in use")
	} else if !strings.Contains(err.Error(), "data dir "+dir+" is in use: another broker") {
		t.Fatalf("second start: %v", err)
	}
	c.Close()
	c.Close() // idempotent
	c, err = Start(Config{Listen: threeFree, DataDir: dir})
	if err != nil {
		t.Fatalf("start after close: %v", err)
	}
	if c.Recovery().Unclean {
		t.Fatal("a clean close read as a crash")
	}
	c.Close()
}

// A data dir open to other users is made 0700, and what Start writes in it
// is 0600, whatever was there before; the dir's contents keep their modes.
func TestDataDirIsMadePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the umask
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(notes, 0o644)
	running := filepath.Join(dir, runningFile) // as a crash under an older version left it
	if err := os.WriteFile(running, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(running, 0o644)
	c, err := Start(Config{Listen: threeFree, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for path, want := range map[string]os.FileMode{
		dir:                          0o700 | os.ModeDir,
		filepath.Join(dir, lockFile): 0o600,
		running:                      0o600,
		notes:                        0o644,
	} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want %v", path, fi.Mode(), err, want)
		}
	}
}
