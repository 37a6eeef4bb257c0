package stream

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// oneOwner is a group balancer that gives every partition to one member:
// the one that held partitions in the latest generation if it is still in
// the group, else the first member (by instance id, then member id). The
// others get nothing and wait as standbys. It is cooperative (KIP-429): a
// rebalance that leaves the partitions where they are (a standby joining
// or leaving) revokes nothing, so the owner's open transaction goes on; a
// member's partitions move to another only once it has revoked them.
type oneOwner struct{}

// oneOwnerProtocol is the balancer's protocol name; every member of a
// stream group must use it.
const oneOwnerProtocol = "segmerge-one-owner"

func (oneOwner) ProtocolName() string { return oneOwnerProtocol }
func (oneOwner) IsCooperative() bool  { return true }

// JoinGroupMetadata says what the member holds, so that the leader can
// keep the partitions where they are.
func (oneOwner) JoinGroupMetadata(topics []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 2 // OwnedPartitions from 1, Generation from 2
	meta.Topics = topics
	for t, ps := range current {
		if len(ps) == 0 {
			continue
		}
		owned := kmsg.NewConsumerMemberMetadataOwnedPartition()
		owned.Topic, owned.Partitions = t, ps
		meta.OwnedPartitions = append(meta.OwnedPartitions, owned)
	}
	meta.Generation = generation
	return meta.AppendTo(nil)
}

func (oneOwner) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (b oneOwner) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	return cb, cb.MemberTopics(), err
}

// Balance gives every partition of every topic to the owner, less those
// another member still holds and must revoke first.
func (oneOwner) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	owner := -1
	var gen int32
	for i := range b.Members() {
		_, meta := b.MemberAt(i)
		if len(meta.OwnedPartitions) > 0 && (owner < 0 || meta.Generation > gen) {
			owner, gen = i, meta.Generation
		}
	}
	if owner < 0 {
		owner = 0
	}
	plan := b.NewPlan()
	m, _ := b.MemberAt(owner)
	for t, n := range topics {
		ps := make([]int32, n)
		for p := range ps {
			ps[p] = int32(p)
		}
		plan.AddPartitions(m, t, ps)
	}
	plan.AdjustCooperative(b)
	return plan
}
