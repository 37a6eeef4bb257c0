// Package kfakecrashtxn reproduces, against kfake alone, what kfake's crash
// replay does to a transaction that was open when the broker died.
package kfakecrashtxn

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	topic = "t"
	txid  = "txid"
)

// crashImage copies a live cluster's data dir, as a SIGKILL would leave it:
// kfake writes with plain write(2) calls and no user-space buffer, and the
// cluster is idle while we copy, so the copy is what a crash leaves on disk.
func crashImage(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "crash")
	if out, err := exec.Command("cp", "-a", dir, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

func start(t *testing.T, dir string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// txn writes value in one transaction with id txid and commits it, or
// leaves it open (the client is then abandoned, not closed).
func txn(t *testing.T, c *kfake.Cluster, value string, commit bool) {
	t.Helper()
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.TransactionalID(txid), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord(value)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if !commit {
		return // open at the "crash"; the client is dropped
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	cl.Close()
}

// read returns the values a read_committed consumer sees, and the log as a
// read_uncommitted consumer with control records sees it.
func read(t *testing.T, c *kfake.Cluster) (committed []string, log []string) {
	t.Helper()
	for _, level := range []kgo.IsolationLevel{kgo.ReadCommitted(), kgo.ReadUncommitted()} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(level),
			kgo.KeepControlRecords(), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				s := fmt.Sprintf("@%d pid %d epoch %d %q", r.Offset, r.ProducerID, r.ProducerEpoch, r.Value)
				if r.Attrs.IsControl() {
					s = fmt.Sprintf("@%d pid %d epoch %d marker %x", r.Offset, r.ProducerID, r.ProducerEpoch, r.Key)
				}
				if level == kgo.ReadCommitted() {
					if !r.Attrs.IsControl() {
						committed = append(committed, string(r.Value))
					}
				} else {
					log = append(log, s)
				}
			})
		}
		cancel()
		cl.Close()
	}
	return committed, log
}

// A transaction open when the broker is killed is aborted by the replay of
// the data dir, but no ABORT marker is written. Clients filter an aborted
// transaction's records until that producer's ABORT marker (Kafka's
// read_committed protocol), so every later record of the same producer id
// -- the same transactional id, committed after the restart -- is dropped
// too. And a second crash replays the unmarked records as committed.
func TestCrashAbortedTransactionHasNoMarker(t *testing.T) {
	dir := t.TempDir()
	c := start(t, dir)
	txn(t, c, "one", true)
	txn(t, c, "two (open at the crash)", false)
	crashed := crashImage(t, dir)
	c.Close()

	c = start(t, crashed) // replays the data dir: "two" is aborted
	txn(t, c, "three", true)
	committed, log := read(t, c)
	t.Logf("after one crash, the log:\n  %s", strings.Join(log, "\n  "))
	t.Logf("read_committed sees: %q", committed)
	if fmt.Sprint(committed) != fmt.Sprint([]string{"one", "three"}) {
		t.Errorf("after one crash, read_committed saw %q, want [one three]: the committed %q is dropped", committed, "three")
	}

	crashed2 := crashImage(t, crashed)
	c.Close()
	c = start(t, crashed2)
	defer c.Close()
	committed, _ = read(t, c)
	t.Logf("after a second crash, read_committed sees: %q", committed)
	if fmt.Sprint(committed) != fmt.Sprint([]string{"one", "three"}) {
		t.Errorf("after a second crash, read_committed saw %q, want [one three]", committed)
	}
}

// A client whose transaction is open when the broker is killed cannot go on
// after the restart: the replay aborts the transaction and bumps the
// producer epoch (in memory), so the client's next produce is refused with
// INVALID_PRODUCER_EPOCH and its EndTxn with PRODUCER_FENCED -- errors that
// otherwise mean another producer took the transactional id over. A Kafka
// broker restart keeps the transaction (its state is in the replicated
// __transaction_state log) and the client commits it.
func TestTransactionOpenAcrossRestartIsFenced(t *testing.T) {
	dir := t.TempDir()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	addr := c.ListenAddrs()[0]
	_, port, _ := strings.Cut(addr, ":")
	var p int
	fmt.Sscan(port, &p)
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(txid), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	crashed := crashImage(t, dir)
	c.Close()
	c, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(crashed), kfake.Ports(p))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	perr := cl.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr()
	eerr := cl.EndTransaction(ctx, kgo.TryCommit)
	t.Logf("after the restart: produce: %v; commit: %v", perr, eerr)
	if perr != nil || eerr != nil {
		t.Errorf("the transaction open across the restart failed: produce %v, commit %v", perr, eerr)
	}
}
