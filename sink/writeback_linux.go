package sink

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing f's dirty pages to disk,
// without waiting for them (sync_file_range with SYNC_FILE_RANGE_WRITE over
// the whole file). It is a hint: an error changes nothing, as the fsync at
// the next Flush still makes the file durable.
func startWriteback(f *os.File) {
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
