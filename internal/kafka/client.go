package kafka

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster says how to reach a cluster: its seed brokers, and the options
// every client takes (TLS, SASL, tunables; see Properties).
type Cluster struct {
	Brokers []string
	Opts    []kgo.Opt
}

// Options returns segmerge's client options for c, then extra.
func (c Cluster) Options(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID("segmerge"),
		// Fail a request to an unreachable cluster in bounded time
		// instead of retrying forever: time bounds it, not the number
		// of tries, which at short waits would run out first (kgo's 20
		// tries take about 18 s at RetryBackoff's defaults).
		kgo.RetryTimeout(30 * time.Second),
		kgo.RequestRetries(1 << 20),
		kgo.RetryBackoffFn(RetryBackoff(RetryBackoffMin, RetryBackoffMax)),
	}
	opts = append(opts, c.Opts...)
	return append(opts, extra...)
}

// The wait before a failed request is tried again, and before a group
// member that lost its group (say, to a broker outage) joins again:
// RetryBackoffMin, doubling with each failure in a row up to
// RetryBackoffMax. They are Kafka's own defaults (retry.backoff.ms and
// retry.backoff.max.ms, KIP-580), which librdkafka shares; kgo's own go up
// to 5s, and a consumer whose group loop had backed off that far read
// nothing for up to 5s after the brokers came back. The properties of the
// same names set them.
const (
	RetryBackoffMin = 100 * time.Millisecond
	RetryBackoffMax = time.Second
)

// RetryBackoff returns the wait after fails failures in a row: base
// doubled for each after the first, at most max, less or more by up to a
// fifth at random so that clients that failed together do not retry
// together.
func RetryBackoff(base, max time.Duration) func(fails int) time.Duration {
	return func(fails int) time.Duration {
		d := base
		for i := 1; i < fails && d < max; i++ {
			d *= 2
		}
		return time.Duration(float64(min(d, max)) * (0.8 + 0.4*rand.Float64()))
	}
}

// Linger is how long segmerge's producers wait to fill a record batch,
// unless linger.ms says otherwise (a default: see Defaults).
const Linger = 5 * time.Millisecond

// Defaults returns c with defaults put before its own options, so that a
// client property the user gives for the same setting (-X, -F: linger.ms,
// fetch.max.bytes, ...) wins over them. The options a client is made
// with (Client's and Options' extra) still win over the user's.
func (c Cluster) Defaults(defaults ...kgo.Opt) Cluster {
	c.Opts = append(append([]kgo.Opt(nil), defaults...), c.Opts...)
	return c
}

// Client returns a client of c with extra options.
func (c Cluster) Client(extra ...kgo.Opt) (*kgo.Client, error) {
	if len(c.Brokers) == 0 {
		return nil, errors.New("no brokers given")
	}
	cl, err := kgo.NewClient(c.Options(extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// FetchMaxWait is how long a broker may hold a fetch that has nothing to
// return yet. Kafka's own default is 500ms; this one is short because a
// consumer that pauses partitions fetches unevenly: kgo keeps one fetch per
// broker in flight, and one that asks only for partitions at their end
// holds the broker's slot for the whole wait while partitions resumed
// meanwhile on that broker, the ones the lowest batch waits on, cannot be
// fetched. The price is an idle consumer's empty fetches, 20 a second per
// broker.
const FetchMaxWait = 50 * time.Millisecond

// FetchOptions bound a client's fetches to maxBytes a response and
// partitionBytes a partition, with FetchMaxWait.
func FetchOptions(maxBytes, partitionBytes int32) []kgo.Opt {
	return []kgo.Opt{
		kgo.FetchMaxBytes(maxBytes),
		kgo.FetchMaxPartitionBytes(partitionBytes),
		kgo.FetchMaxWait(FetchMaxWait),
	}
}
