package e2e

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/verify"
)

// Broker faults are retried or aborted and redone, never lost or doubled:
// with each fault below injected while a transactional consumer works, a
// read_committed read of the output topic (and the file beside it) still
// holds every batch exactly once. Each fault must have fired.
func TestBrokerFaultsKeepOutputExactlyOnce(t *testing.T) {
	type injected struct {
		hits func() int
		stop func()
	}
	faults := []struct {
		name     string
		inject   func(k *kfake.Cluster) injected
		fileOnly bool // scalable mode and no output topic: plain offset commits
	}{
		{"EndTxn UNKNOWN_SERVER_ERROR", func(k *kfake.Cluster) injected {
			h := k.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.UnknownServerError, Count: 3})
			return injected{h.Hits, h.Remove}
		}, false},
		{"EndTxn NOT_COORDINATOR", func(k *kfake.Cluster) injected {
			h := k.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.NotCoordinator, Count: 3})
			return injected{h.Hits, h.Remove}
		}, false},
		{"TxnOffsetCommit timing out", func(k *kfake.Cluster) injected {
			h := k.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.TxnOffsetCommit}, Err: kerr.RequestTimedOut, Count: 3})
			return injected{h.Hits, h.Remove}
		}, false},
		{"OffsetCommit timing out, scalable mode", func(k *kfake.Cluster) injected {
			h := k.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.RequestTimedOut, Count: 3})
			return injected{h.Hits, h.Remove}
		}, true},
		{"fetch errors", func(k *kfake.Cluster) injected {
			h := k.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: "segment-topic", Err: kerr.NotLeaderForPartition, Count: 5})
			return injected{h.Hits, h.Remove}
		}, false},
		{"fetch delays", func(k *kfake.Cluster) injected {
			var n atomic.Int64
			k.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
				k.KeepControl()
				if n.Add(1) <= 20 {
					k.SleepControl(func() { time.Sleep(30 * time.Millisecond) })
				}
				return nil, nil, false
			})
			return injected{func() int { return int(n.Load()) }, func() {}}
		}, false},
		{"connection closed mid-produce", func(k *kfake.Cluster) injected {
			var n, fired atomic.Int64
			k.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				k.KeepControl()
				if i := n.Add(1); i%7 == 3 && i < 40 { // a few, spread out
					fired.Add(1)
					return nil, errors.New("closed by the test"), true
				}
				return nil, nil, false
			})
			return injected{func() int { return int(fired.Load()) }, func() {}}
		}, false},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			c := cluster(t, "")
			const n = 300
			input := produce(t, c, n, nil)
			fault := f.inject(c.Kfake())
			defer fault.stop()
			modes := []string{consumer.ModeSimple, consumer.ModeConcurrent}
			if f.fileOnly {
				modes = []string{consumer.ModeScalable}
			}
			for _, mode := range modes {
				topic := "merged-" + mode
				if f.fileOnly {
					topic = ""
				}
				out, st := consume(t, c, func(cfg *consumer.Config) {
					cfg.Mode, cfg.Group, cfg.OutputTopic = mode, "faults-"+mode, topic
					cfg.CommitInterval = 10 * time.Millisecond // many transactions
				})
				if st.Batches != n {
					t.Fatalf("--mode %s wrote %d batches, want %d", mode, st.Batches, n)
				}
				verifyFile(t, input, out)
				if f.fileOnly {
					continue
				}
				rep, err := verify.Run(ctx(t), verify.Config{InputLog: input, Brokers: c.Addrs(), Topic: topic})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.OK() || rep.Batches != n {
					t.Fatalf("--mode %s output topic: %s %v", mode, rep.Summary(), rep.Problems)
				}
			}
			if fault.hits() == 0 {
				t.Fatal("the fault never fired: the test did not test it")
			}
			t.Logf("fault fired %d times", fault.hits())
		})
	}
}

// A fatal error stops the run with a message, not a hang: a second consumer
// with the same transactional id fences the first, whose run ends with an
// error naming the flag to change.
func TestFencedConsumerStopsWithAMessage(t *testing.T) {
	c := cluster(t, "")
	produce(t, c, 50, nil)
	errs := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		_, err := consumeErr(t, c, func(cfg *consumer.Config) {
			cfg.Group, cfg.OutputTopic, cfg.TransactionalID, cfg.ExitAtEnd = "first", "merged", "shared-id", false
			cfg.CommitInterval = 20 * time.Millisecond
			cfg.Log = slog.New(signalHandler{msg: "consuming", once: new(sync.Once), ch: started})
		})
		errs <- err
	}()
	<-started
	// The second consumer takes the id over (and finishes its own run).
	consume(t, c, func(cfg *consumer.Config) {
		cfg.Group, cfg.OutputTopic, cfg.TransactionalID = "second", "merged-2", "shared-id"
	})
	produce(t, c, 5, nil) // give the first something to commit
	select {
	case err := <-errs:
		if err == nil || !strings.Contains(err.Error(), "give each process its own TransactionalID") {
			t.Fatalf("fenced consumer: err %v, want one naming TransactionalID", err)
		}
		t.Logf("fenced consumer stopped with: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the fenced consumer did not stop")
	}
}
