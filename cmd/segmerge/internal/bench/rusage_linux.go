package bench

import (
	"os"
	"syscall"
)

// maxRSS is the kernel's high-water mark of the exited child's resident
// set, in bytes (Linux counts ru_maxrss in KiB).
func maxRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10
	}
	return 0
}
