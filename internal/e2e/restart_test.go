package e2e

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/segmerge/segmerge/consumer"
	"github.com/segmerge/segmerge/internal/kafka"
)

// A consumer restarted after its process died inside a commit, between
// the offsets sent (TxnOffsetCommit) and the transaction ended, goes on at
// once: the offsets it checks at start are the last committed ones, and
// its own transactional id fences the transaction left open. Waiting for
// stable offsets there waited out the dead process's transaction timeout
// (the default, 20s) before joining the group.
func TestRestartAfterACrashInsideACommit(t *testing.T) {
	c := cluster(t, "")
	produce(t, c, 20, nil)
	const group, topic, txnID = "g", "segment-topic", "crashed-inside-a-commit"
	edit := func(cfg *consumer.Config) {
		cfg.Group, cfg.TransactionalID, cfg.Mode = group, txnID, consumer.ModeConcurrent
	}
	if _, st := consume(t, c, edit); st.Batches != 20 {
		t.Fatalf("first run: %d batches, want 20", st.Batches)
	}
	produce(t, c, 20, nil)
	timeout := consumer.DefaultConfig().TransactionTimeout
	leaveCommitOpen(t, c.Addrs(), txnID, group, topic, timeout)

	start := time.Now()
	_, st, err := consumeInto(t, c, func(cfg *consumer.Config) {
		edit(cfg)
		cfg.FromBeginning = false
	})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("after %v: %v", took.Round(time.Millisecond), err)
	}
	if st.Batches != 20 {
		t.Fatalf("second run: %d batches, want the 20 produced since the first", st.Batches)
	}
	// The broker would have aborted the dead process's transaction at its
	// timeout (kfake keeps the timeout an id was first given: the first
	// run's, the same).
	if took > timeout/2 {
		t.Fatalf("the restart took %v: it waited for the dead process's transaction", took.Round(time.Millisecond))
	}
	t.Logf("restarted and done in %v", took.Round(time.Millisecond))
}

// leaveCommitOpen does what a process killed inside a commit leaves: a
// transaction of txnID, open for timeout, holding offsets for group on
// topic (every partition at 0) that are sent but not committed.
func leaveCommitOpen(t *testing.T, brokers []string, txnID, group, topic string, timeout time.Duration) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctx(t)
	ok := func(what string, resp kmsg.Response, err error, code func() int16) {
		t.Helper()
		if err == nil {
			err = kerr.ErrorForCode(code())
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = kmsg.StringPtr(txnID), int32(timeout.Milliseconds())
	ir, err := init.RequestWith(ctx, cl)
	ok("InitProducerID", ir, err, func() int16 { return ir.ErrorCode })

	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, ir.ProducerID, ir.ProducerEpoch, group
	ar, err := add.RequestWith(ctx, cl)
	ok("AddOffsetsToTxn", ar, err, func() int16 { return ar.ErrorCode })

	commit := kmsg.NewPtrTxnOffsetCommitRequest()
	commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch = txnID, group, ir.ProducerID, ir.ProducerEpoch
	commit.Generation, commit.MemberID = -1, ""
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	ct := kmsg.NewTxnOffsetCommitRequestTopic()
	ct.Topic, ct.TopicID = topic, td[topic].ID // the name up to v5, the id from v6
	// The producer's ten partitions.
	for p := range int32(10) {
		cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset, cp.LeaderEpoch = p, 0, -1
		ct.Partitions = append(ct.Partitions, cp)
	}
	commit.Topics = append(commit.Topics, ct)
	cr, err := commit.RequestWith(ctx, cl)
	ok("TxnOffsetCommit", cr, err, func() int16 {
		for _, t := range cr.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return p.ErrorCode
				}
			}
		}
		return 0
	})

	// The group's offsets are now unstable: a stable read is refused.
	resp, err := kadm.NewClient(cl).FetchOffsets(kadm.RequireStable(ctx), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := resp.Lookup(topic, 0); !errors.Is(o.Err, kerr.UnstableOffsetCommit) {
		t.Fatalf("a stable read of the group's offsets with the commit left open: %v, want UNSTABLE_OFFSET_COMMIT", o.Err)
	}
}

// A read of stable offsets that waits on an open transaction says so once,
// after a second: a restart that cannot fence a crashed process's
// transaction (another transactional id: the batch layout, stream) waits
// for the broker to abort it, and the log says why it waits.
func TestWaitingForAnOpenCommitIsSaid(t *testing.T) {
	c := cluster(t, "")
	produce(t, c, 1, nil)
	const group, topic = "g", "segment-topic"
	consume(t, c, func(cfg *consumer.Config) { cfg.Group = group }) // the group, with commits
	leaveCommitOpen(t, c.Addrs(), "a-crashed-process", group, topic, time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	rctx, cancel := context.WithTimeout(ctx(t), 2500*time.Millisecond)
	defer cancel()
	if _, err := kafka.Commits(rctx, kadm.NewClient(cl), group, topic, log); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a stable read with a commit left open: %v, want it to wait until its context ends", err)
	}
	if n := strings.Count(logged.String(), "waiting for a transaction that holds offsets of the group to end"); n != 1 {
		t.Fatalf("the wait was said %d times, want once:\n%s", n, logged.String())
	}
	if _, err := kafka.LastCommits(ctx(t), kadm.NewClient(cl), group, topic); err != nil {
		t.Fatalf("the last commits, with a commit left open: %v", err)
	}
}
