package kafka

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A process that loses the race to create a topic learns its partitions
// from the brokers, not from its client's cache, which still holds the
// topic as missing (found so before the create) for its minimum age: a
// minute here, past the test's deadline.
func TestEnsureTopicAfterLosingTheRace(t *testing.T) {
	c := oneBroker(t, 0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.MetadataMinAge(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Partitions(ctx, adm, "out"); err == nil {
		t.Fatal("topic out found before it was created")
	}
	// The winner, another process, creates it with its own count.
	other, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := kadm.NewClient(other).CreateTopic(ctx, 3, -1, nil, "out"); err != nil {
		t.Fatal(err)
	}
	n, created, err := EnsureTopic(ctx, adm, slog.New(slog.DiscardHandler), "out", 10, false)
	if err != nil || created || n != 3 {
		t.Fatalf("EnsureTopic: %d partitions, created %v, err %v; want 3, false, nil", n, created, err)
	}
}
