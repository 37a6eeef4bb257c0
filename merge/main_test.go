package merge

import (
	"flag"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// seedFlag replays a randomized test: go test ./merge/ -run Random -merge.seed=N
var seedFlag = flag.Uint64("merge.seed", 0, "seed for randomized tests (0: pick one from the clock)")

// TestMain fails the package if any test leaves a goroutine behind; the merge
// must never start one.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testSeed returns the seed for a randomized test and logs it, so a failure
// can be replayed with -merge.seed.
func testSeed(t testing.TB) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -merge.seed=%d)", seed, seed)
	return seed
}
