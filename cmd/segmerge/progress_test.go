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
	if got, want := formatProgress("produced", &c, 5*time.Second, 20), "produced 50 batches (20/s now, 10/s on average), 7554 integers"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	c.Integers.Store(250_000_000)
	c.Bad.Store(2)
	if got, want := formatProgress("merged", &c, 10*time.Second, 0), "merged 50 batches (0/s now, 5/s on average), 250000000 integers, 2 bad records"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	var r metrics.Run
	r.Records.Store(3000)
	if got, want := formatProgress("repartitioned", &r, 2*time.Second, 1000), "repartitioned 3000 records (1k/s now, 1.5k/s on average)"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}
