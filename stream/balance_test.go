package stream

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every partition goes to one member: the one that held partitions in
// the latest generation if it is still in the group, else the first.
func TestOneOwner(t *testing.T) {
	member := func(id string, owned []int32, gen int32) kmsg.JoinGroupResponseMember {
		m := kmsg.NewJoinGroupResponseMember()
		m.MemberID = id
		cur := map[string][]int32{}
		if owned != nil {
			cur["t"] = owned
		}
		m.ProtocolMetadata = oneOwner{}.JoinGroupMetadata([]string{"t"}, cur, gen)
		return m
	}
	for _, tc := range []struct {
		name    string
		members []kmsg.JoinGroupResponseMember
		owner   string
	}{
		{"nobody held them", []kmsg.JoinGroupResponseMember{member("a", nil, -1), member("b", nil, -1)}, "a"},
		{"the holder stays owner", []kmsg.JoinGroupResponseMember{member("a", nil, 3), member("b", []int32{0, 1, 2}, 3)}, "b"},
		{"the latest holder wins", []kmsg.JoinGroupResponseMember{member("a", []int32{0, 1, 2}, 2), member("b", []int32{0, 1, 2}, 5), member("c", nil, 5)}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gb, _, err := oneOwner{}.MemberBalancer(tc.members)
			if err != nil {
				t.Fatal(err)
			}
			into, err := gb.(kgo.GroupMemberBalancerOrError).BalanceOrError(map[string]int32{"t": 3})
			if err != nil {
				t.Fatal(err)
			}
			plan := into.(*kgo.BalancePlan).AsMemberIDMap()
			for id, topics := range plan {
				n := len(topics["t"])
				if id == tc.owner && n != 3 || id != tc.owner && n != 0 {
					t.Fatalf("member %s gets %v; want all 3 partitions for %s alone", id, topics, tc.owner)
				}
			}
		})
	}
}
