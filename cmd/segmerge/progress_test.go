package main

import (
	"testing"
	"time"

	"github.com/segmerge/segmerge/metrics"
)

func TestFormatProgress(t *testing.T) {
	var c metrics.Run
	c.Batches.Store(50)
	c.Integers.Store(7554)
	if got, want := formatProgress("produced", &c, 5*time.Second), "produced 50 batches (10/s), 7554 integers (1.51k/s)"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	c.Integers.Store(250_000_000)
	c.Bad.Store(2)
	if got, want := formatProgress("merged", &c, 10*time.Second), "merged 50 batches (5/s), 250000000 integers (25M/s), 2 bad records"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}
