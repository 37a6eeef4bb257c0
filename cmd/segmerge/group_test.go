package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupWatch watches a consumer group from the test: its committed
// progress, and the members a SIGKILL left behind.
type groupWatch struct {
	t            *testing.T
	cl           *kgo.Client
	adm          *kadm.Client
	group, topic string
}

func newGroupWatch(t *testing.T, brokers []string, group, topic string) *groupWatch {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &groupWatch{t: t, cl: cl, adm: kadm.NewClient(cl), group: group, topic: topic}
}

func (g *groupWatch) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// committed is the sum of the group's committed offsets on the topic.
func (g *groupWatch) committed() int64 {
	g.t.Helper()
	ctx, cancel := g.ctx()
	defer cancel()
	resp, err := g.adm.FetchOffsets(ctx, g.group)
	if err != nil {
		g.t.Fatalf("fetch offsets: %v", err)
	}
	var n int64
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == g.topic && o.Err == nil && o.At > 0 {
			n += o.At
		}
	})
	return n
}

// waitCommitted waits until the group's committed offsets sum to at least
// n, failing if who exits first or it takes a minute.
func (g *groupWatch) waitCommitted(n int64, who *proc) {
	g.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for g.committed() < n {
		select {
		case err := <-who.done:
			who.done <- err
			g.t.Fatalf("%v exited (%v) before the group committed %d records:\n%s", who.cmd.Args[1:3], err, n, who.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("the group did not commit %d records within a minute (%d):\n%s", n, g.committed(), who.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitOpenTxn waits until topic has a transaction open with records in it.
func (g *groupWatch) waitOpenTxn(topic string, who *proc) {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !g.openTxn(topic) {
		if time.Now().After(deadline) {
			g.t.Fatalf("no transaction open on %s for 10s:\n%s", topic, who.stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// openTxn reports whether some partition of topic has a last stable offset
// below its high watermark: a transaction is open with records in it.
func (g *groupWatch) openTxn(topic string) bool {
	g.t.Helper()
	ctx, cancel := g.ctx()
	defer cancel()
	hwm, err1 := g.adm.ListEndOffsets(ctx, topic)
	lso, err2 := g.adm.ListCommittedOffsets(ctx, topic)
	if err := errors.Join(err1, err2); err != nil {
		g.t.Fatalf("list offsets of %s: %v", topic, err)
	}
	open := false
	lso.Each(func(o kadm.ListedOffset) {
		if h, ok := hwm.Lookup(topic, o.Partition); ok && o.Err == nil && o.Offset < h.Offset {
			open = true
		}
	})
	return open
}

// evict removes the group's members, as the group does when their session
// times out: the test calls it after SIGKILLing the only member, so that
// the next consumer joins at once instead of after --session-timeout (the
// broker runs the same removal for a leave as for an expired session).
func (g *groupWatch) evict() {
	g.t.Helper()
	ctx, cancel := g.ctx()
	defer cancel()
	described, err := g.adm.DescribeGroups(ctx, g.group)
	if err != nil {
		g.t.Fatalf("describe group: %v", err)
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = g.group
	for _, m := range described[g.group].Members {
		req.Members = append(req.Members, kmsg.LeaveGroupRequestMember{MemberID: m.MemberID})
	}
	if len(req.Members) == 0 {
		return
	}
	if _, err := req.RequestWith(ctx, g.cl); err != nil {
		g.t.Fatalf("evict the killed member: %v", err)
	}
}
