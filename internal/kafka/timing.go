package kafka

import (
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/segmerge/segmerge/internal/setting"
)

// StopGrace is how long a stop waits for a transaction being ended (see
// Ending): an end takes milliseconds unless it waits on a rebalance, and a
// transaction cut off then is aborted well inside the transaction timeout.
// Half the session timeout, at most 5s.
func StopGrace(session time.Duration) time.Duration { return min(5*time.Second, session/2) }

// CloseWait is how long a member waits to leave its group as it ends (see
// CloseWithin): twice the session timeout, at most 20s, so that with
// StopGrace a stop ends within Kubernetes' default 30s grace.
func CloseWait(session time.Duration) time.Duration { return min(20*time.Second, 2*session) }

// RebalanceTimeout is how long a rebalance waits for every member to join
// again before it goes on without the ones missing: the session timeout
// and 10s more. A member processes a poll with rebalances held back, and
// must be back within it.
func RebalanceTimeout(session time.Duration) time.Duration { return session + 10*time.Second }

// MinTransactionTimeout is the least transaction timeout that outlasts a
// rebalance waiting for a crashed member, with a margin: ending a
// transaction waits for a rebalance in progress, which waits up to the
// session timeout for a member that died, and a transaction the broker
// aborts meanwhile fences its producer.
func MinTransactionTimeout(session, commitInterval time.Duration) time.Duration {
	return session + max(2*commitInterval, 2*time.Second)
}

// Instance names a process among the members of a group, for a
// transactional id unique to it: host, pid and a random part (two
// containers may share a host name and a pid, and one process may run
// several members).
func Instance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	return fmt.Sprintf("%s-%d-%06x", host, os.Getpid(), rand.Uint32()&0xffffff)
}

// CheckTimings rejects group timings that make no sense, naming the field
// at fault (a *setting.Error): a session under 1s, a commit interval that
// is not positive, and with transactions a transaction timeout under
// MinTransactionTimeout.
func CheckTimings(session, commitInterval, txnTimeout time.Duration, transactional bool) error {
	switch minTxn := MinTransactionTimeout(session, commitInterval); {
	case session < time.Second:
		return setting.Invalid("SessionTimeout", session, "must be >= 1s (brokers usually want >= 6s)")
	case commitInterval <= 0:
		return setting.Invalid("CommitInterval", commitInterval, "must be > 0")
	case transactional && txnTimeout < minTxn:
		return setting.Invalid("TransactionTimeout", txnTimeout, "must be at least %v, {SessionTimeout} plus the larger of 2s and twice {CommitInterval}: ending a transaction can wait out a rebalance, which waits up to {SessionTimeout} for a crashed member", minTxn)
	}
	return nil
}

// HeartbeatInterval is how often a member of a group with the given
// session timeout heartbeats: every 200ms, or a third of a shorter
// session. A member learns of a rebalance (another process joining, or
// leaving at -e's end) from a heartbeat, and a rebalance waits until every
// member has joined again; a transaction's End waits for the join too. A
// member that is idle, or done and waiting on the others' commits, ends
// no transaction that would force a heartbeat, so the interval is how long
// such a member can keep a rebalance waiting: at Kafka's 3s default two
// such members could each wait 3s on the other, and three processes
// joining together wait about the interval, once or twice. Heartbeats are
// a few dozen bytes; five a second per member cost the coordinator
// nothing a group of segmerge processes would notice.
func HeartbeatInterval(session time.Duration) time.Duration {
	return min(200*time.Millisecond, session/3)
}
