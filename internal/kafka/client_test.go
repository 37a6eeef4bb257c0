package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The retry wait starts at its base, doubles with each failure in a row up
// to its bound, and is spread by a fifth either way.
func TestRetryBackoff(t *testing.T) {
	backoff := RetryBackoff(100*time.Millisecond, time.Second)
	for fails := -1; fails <= 70; fails++ {
		want := time.Second
		switch {
		case fails <= 1:
			want = 100 * time.Millisecond
		case fails <= 4:
			want = 100 * time.Millisecond << (fails - 1)
		}
		lo, hi := want*8/10, want*12/10
		seen := map[time.Duration]bool{}
		for range 100 {
			d := backoff(fails)
			if d < lo || d > hi {
				t.Fatalf("after %d failures: %v, want %v-%v", fails, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Fatalf("after %d failures: %d distinct waits in 100: clients that failed together retry together", fails, len(seen))
		}
	}
}

// Every client takes segmerge's retry wait, and retry.backoff.ms and
// retry.backoff.max.ms set it; a base above the bound is refused, naming
// the key given.
func TestRetryBackoffReachesClients(t *testing.T) {
	for _, tc := range []struct {
		name         string
		props        map[string]string
		first, after time.Duration // the wait after 1 and after 20 failures
		bad          string        // the key an error names
	}{
		{name: "default", first: RetryBackoffMin, after: RetryBackoffMax},
		{name: "both", props: map[string]string{"retry.backoff.ms": "50", "retry.backoff.max.ms": "400"}, first: 50 * time.Millisecond, after: 400 * time.Millisecond},
		{name: "the bound only", props: map[string]string{"retry.backoff.max.ms": "3000"}, first: RetryBackoffMin, after: 3 * time.Second},
		{name: "a base over the default bound", props: map[string]string{"retry.backoff.ms": "2000"}, bad: "retry.backoff.ms"},
		{name: "a bound under the base", props: map[string]string{"retry.backoff.ms": "500", "retry.backoff.max.ms": "200"}, bad: "retry.backoff.max.ms"},
		{name: "not a number", props: map[string]string{"retry.backoff.max.ms": "1s"}, bad: "retry.backoff.max.ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := options(tc.props)
			var pe *PropError
			switch {
			case tc.bad != "" && (!errors.As(err, &pe) || pe.Key != tc.bad):
				t.Fatalf("error %v, want one naming %s", err, tc.bad)
			case tc.bad != "":
				t.Log(err)
				return
			case err != nil:
				t.Fatal(err)
			}
			cl, err := Cluster{Brokers: []string{"127.0.0.1:1"}, Opts: opts}.Client()
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			backoff := cl.OptValue(kgo.RetryBackoffFn).(func(int) time.Duration)
			for fails, want := range map[int]time.Duration{1: tc.first, 20: tc.after} {
				if d := backoff(fails); d < want*8/10 || d > want*12/10 {
					t.Errorf("after %d failures: %v, want %v give or take a fifth", fails, d, want)
				}
			}
		})
	}
}

// A request to brokers gone away is retried until the retry timeout,
// however short the waits between tries: the number of tries does not run
// out first.
func TestRequestsRetryUntilTheTimeout(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := options(map[string]string{"retry.backoff.max.ms": "20", "retry.backoff.ms": "10"})
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 2 * time.Second
	cl, err := Cluster{Brokers: c.ListenAddrs(), Opts: append(opts, kgo.RetryTimeout(timeout))}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.ListTopics(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	start := time.Now()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = "g"
	_, err = req.RequestWith(ctx, cl)
	took := time.Since(start)
	if err == nil {
		t.Fatal("found a coordinator with the brokers gone")
	}
	// 20 tries (kgo's default) at these waits take under half a second.
	if took < timeout*3/4 {
		t.Fatalf("gave up after %v (%v), before the %v retry timeout", took.Round(time.Millisecond), err, timeout)
	}
}

// options returns the client options of props, given as -X gives them.
func options(props map[string]string) ([]kgo.Opt, error) {
	var p Props
	for k, v := range props {
		if err := p.Set(k, v, "-X"); err != nil {
			return nil, err
		}
	}
	opts, _, err := p.Options(nil)
	return opts, err
}
