package broker

import (
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
