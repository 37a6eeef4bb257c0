package bench

import (
	"os"
	"syscall"
	"time"
)

// selfCPU is this process's user and system CPU so far: with the
// embedded cluster, mostly its brokers'.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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
