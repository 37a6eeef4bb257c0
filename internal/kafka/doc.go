// Package kafka is what segmerge's stages share about talking to brokers:
// client options, topics and offsets, the group member that reads a topic
// and writes in transactions, the producer whose first delivery error is
// sticky, dead letters and their headers, one classification of fences,
// and stops that wait a bounded time. Only packages that talk to brokers
// import it (and franz-go); it knows nothing of batches or of the command
// line.
//
// # A member and its transactions
//
// A Member is one group member: a franz-go client reading one topic with
// offsets committed by hand and rebalances held back while a poll is
// processed (BlockRebalanceOnPoll). Given a transactional id it is a
// GroupTransactSession, whose client also produces the stage's output:
// what the stage writes in a transaction, its dead letters and the input
// offsets it commits there become visible together, to read_committed
// readers, or not at all. End ends a transaction, with the offsets the
// caller names (the merge stage commits only offsets below records it
// still holds) or those polled; an abort (a rebalance, a broker that could
// not commit) is the caller's to redo from the last commit, and only a
// fatal error or five aborts in a row end a run.
//
// A fence (IsFence) normally means that a newer producer took the
// transactional id over, which must win: the run ends and Explain says
// what to change. But a broker can fence a producer itself: kfake,
// restarted after a crash, aborts every open transaction and bumps the
// producer's epoch (Kafka does as much to a transaction that outlives its
// timeout). A Member tells the two apart by the trouble it met since it
// last committed (a failed dial, a request cut off): a broker restart
// always shows as that, and a newer instance causes none. Restartable
// says a fence was the broker's; Restart then opens a new session, which
// initializes the producer id again, as a restarted process would.
//
// # Stops
//
// Ending a transaction or leaving a group waits for a rebalance under way,
// which can take a whole rebalance timeout (a minute) when the group's
// processes stop together. A stop must not wait that long: Ending cuts
// such a wait a grace after the stop (the next run redoes what was not
// committed), and CloseWithin stops waiting for a client leaving its group
// (the group then drops it after the session timeout, as it would a
// crashed member).
package kafka
