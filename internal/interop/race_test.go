//go:build race

package interop

// raceEnabled is true when the tests run with -race: the segmerge binary
// they build is then built with -race too.
const raceEnabled = true
