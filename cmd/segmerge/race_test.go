//go:build race

package main

// raceEnabled is true when the tests run with -race: the segmerge binary
// they start is then built with -race too.
const raceEnabled = true
