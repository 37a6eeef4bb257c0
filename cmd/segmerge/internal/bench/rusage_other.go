//go:build !linux

package bench

import (
	"os"
	"time"
)

// selfCPU is not read off Linux: the broker's CPU is left out.
func selfCPU() time.Duration { return 0 }

// maxRSS is unknown off Linux (ru_maxrss differs in unit or is missing);
// the child's own report stands alone.
func maxRSS(*os.ProcessState) int64 { return 0 }
