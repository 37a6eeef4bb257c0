// Package kfakeunstablegroup reproduces, against kfake alone, a stable
// offset fetch refused for partitions that no open transaction holds
// offsets of.
package kfakeunstablegroup

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic = "t"
	group = "g"
)

// A transaction holds an offset of partition 0 of the group; a stable
// read of partition 1 alone should return partition 1's committed offset,
// as Kafka does (a partition is unstable while a transaction holds an
// offset of it), and a stable read of partition 0 should be refused.
func TestStableFetchOfAPartitionNoTransactionHolds(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)

	// Plain commits of both partitions: 5 and 7.
	var offs kadm.Offsets
	offs.AddOffset(topic, 0, 5, -1)
	offs.AddOffset(topic, 1, 7, -1)
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}

	// A transaction commits offset 6 of partition 0, and stays open.
	check := func(what string, err error, code int16) {
		t.Helper()
		if err == nil {
			err = kerr.ErrorForCode(code)
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = kmsg.StringPtr("x"), 60_000
	ir, err := init.RequestWith(ctx, cl)
	check("InitProducerID", err, ir.ErrorCode)
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "x", ir.ProducerID, ir.ProducerEpoch, group
	ar, err := add.RequestWith(ctx, cl)
	check("AddOffsetsToTxn", err, ar.ErrorCode)
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	commit := kmsg.NewPtrTxnOffsetCommitRequest()
	commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch = "x", group, ir.ProducerID, ir.ProducerEpoch
	commit.Generation, commit.MemberID = -1, ""
	ct := kmsg.NewTxnOffsetCommitRequestTopic()
	ct.Topic, ct.TopicID = topic, td[topic].ID
	cp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset, cp.LeaderEpoch = 0, 6, -1
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	cr, err := commit.RequestWith(ctx, cl)
	check("TxnOffsetCommit", err, cr.Topics[0].Partitions[0].ErrorCode)

	// Stable reads, one partition each.
	stable := func(p int32) (int64, error) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.RequireStable = true
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.TopicID, rt.Partitions = topic, td[topic].ID, []int32{p}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return 0, err
		}
		g := resp.Groups[0]
		if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
			return 0, err
		}
		sp := g.Topics[0].Partitions[0]
		return sp.Offset, kerr.ErrorForCode(sp.ErrorCode)
	}
	if _, err := stable(0); !errors.Is(err, kerr.UnstableOffsetCommit) {
		t.Errorf("stable read of partition 0, which the transaction holds: %v, want UNSTABLE_OFFSET_COMMIT", err)
	}
	if at, err := stable(1); err != nil || at != 7 {
		t.Errorf("stable read of partition 1, which no transaction holds: offset %d, %v; want 7, no error", at, err)
	}
}
