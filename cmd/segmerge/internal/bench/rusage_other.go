//go:build !linux

package bench

import "os"

// maxRSS is unknown off Linux (ru_maxrss differs in unit or is missing);
// the child's own report stands alone.
func maxRSS(*os.ProcessState) int64 { return 0 }
