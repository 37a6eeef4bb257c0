package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Recovery after an unclean stop.
//
// # What kfake leaves behind
//
// A kfake cluster killed (SIGKILL, power loss) with a transaction open
// replays its data dir on the next start and treats that transaction as
// aborted: it lists it among the partition's aborted transactions and bumps
// the producer's epoch. But it writes no ABORT marker into the log. Kafka
// clients reading read_committed drop an aborted transaction's records until
// they meet that producer's ABORT marker, so with no marker they also drop
// every later record of the same producer id: a transactional id keeps its
// producer id across restarts, so every transaction a restarted consumer
// commits afterwards is invisible to read_committed readers. And if the
// broker is killed again before a clean stop, the replay takes the unmarked
// records for part of the producer's next committed transaction, and they
// become visible. (kfake's persist.go, loadPartitionFullReplay: the
// "implicitly abort in-flight transactions" step.)
//
// # What Start does about it
//
// A Kafka operator closes such a hanging transaction with an ABORT marker
// (KIP-664: kafka-transactions.sh abort, kadm's WriteTxnMarkers). Start does
// that before anyone can connect: it marks the data dir while a cluster runs
// on it (runningFile); finding the mark at start means the last run did not
// stop cleanly, and then it first starts the cluster on private ports, reads
// every partition, writes an ABORT marker after each transactional run that
// no marker ends, and stops that cluster cleanly (kfake then saves the
// aborted ranges in its snapshot) before starting the real one. The cost is
// one read of the log, as a Kafka broker's own log recovery after an unclean
// shutdown.
//
// What it cannot mend: a broker killed in the middle of ending a
// transaction, with the markers written to some partitions and not others
// (kfake writes them one by one, then the consumer offsets). Kafka finishes
// such a commit from its transaction log; kfake keeps none, and the
// partitions left without a marker are aborted here, as kfake's replay
// already treats them. Killed after the last COMMIT marker and before the
// group's offsets, the output stays committed while its input offsets are
// not, so the consumer reads that input again and writes it a second
// time.

// runningFile marks a data dir in use; it is removed by a clean Close.
const runningFile = "segmerge-broker.running"

// Recovery says what Start did about an unclean stop.
type Recovery struct {
	Unclean bool          // the last run on the data dir did not stop cleanly
	Records int64         // records read to find open transactions
	Aborted int           // transactions (per partition) closed with an ABORT marker
	Took    time.Duration // time spent
}

// recoverDataDir runs the recovery described above if the data dir's last
// run did not stop cleanly. opts are the cluster's options without a
// listener or TLS; client are the options its clients need besides the
// seed brokers (SASL as the superuser).
func recoverDataDir(dir string, opts []kfake.Opt, client []kgo.Opt) (Recovery, error) {
	var rec Recovery
	if _, err := os.Stat(filepath.Join(dir, runningFile)); err != nil {
		return rec, nil // a clean stop, or a fresh dir
	}
	rec.Unclean = true
	start := time.Now()
	c, err := kfake.NewCluster(append(opts, kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		return net.Listen(network, "127.0.0.1:0")
	}))...)
	if err != nil {
		return rec, fmt.Errorf("recover %s: %w", dir, err)
	}
	defer c.Close() // saves what was repaired
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client = append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, client...)
	open, n, err := openTransactions(ctx, client)
	rec.Records = n
	if err == nil {
		rec.Aborted, err = abortAll(ctx, client, open)
	}
	rec.Took = time.Since(start)
	if err != nil {
		return rec, fmt.Errorf("recover %s after an unclean stop: %w", dir, err)
	}
	return rec, nil
}

// run is a transactional producer's records in one partition that no
// marker has ended yet.
type run struct {
	epoch       int16
	first, last int64
}

type partitionKey struct {
	topic string
	part  int32
}

// openTransactions reads every partition of every topic to its end and
// returns, per partition and producer id, the transactional records no
// control marker ends. It also returns how many records it read. client
// are the options that reach the cluster.
func openTransactions(ctx context.Context, client []kgo.Opt) (map[partitionKey]map[int64]run, int64, error) {
	admCl, err := kgo.NewClient(client...)
	if err != nil {
		return nil, 0, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, topics.Names()...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, 0, err
	}
	ends, err := adm.ListEndOffsets(ctx, topics.Names()...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, 0, err
	}
	want := map[string]map[int32]kgo.Offset{}
	left := map[partitionKey]int64{} // end offset of each partition still to read
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		if o.Offset <= s.Offset {
			return
		}
		if want[o.Topic] == nil {
			want[o.Topic] = map[int32]kgo.Offset{}
		}
		want[o.Topic][o.Partition] = kgo.NewOffset().At(s.Offset)
		left[partitionKey{o.Topic, o.Partition}] = o.Offset
	})
	open := map[partitionKey]map[int64]run{}
	if len(want) == 0 {
		return open, 0, nil
	}
	cl, err := kgo.NewClient(slices.Concat(client, []kgo.Opt{
		kgo.ConsumePartitions(want),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100 * time.Millisecond)})...)
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	var n int64
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, n, fmt.Errorf("read the log: %w", err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("read %s/%d: %w", t, p, err))
		})
		if ferr != nil {
			return nil, n, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			k := partitionKey{r.Topic, r.Partition}
			if end, ok := left[k]; ok && r.Offset+1 >= end {
				delete(left, k)
			}
			if !r.Attrs.IsTransactional() {
				return
			}
			runs := open[k]
			if r.Attrs.IsControl() {
				delete(runs, r.ProducerID)
				return
			}
			if runs == nil {
				runs = map[int64]run{}
				open[k] = runs
			}
			cur, ok := runs[r.ProducerID]
			if !ok || cur.epoch != r.ProducerEpoch {
				// A new epoch over an unmarked run means a run left
				// open earlier, in the middle of the log, where no
				// marker can go now; the newest run is the one an
				// ABORT marker can still end.
				cur = run{epoch: r.ProducerEpoch, first: r.Offset}
			}
			cur.last = r.Offset
			runs[r.ProducerID] = cur
		})
	}
	return open, n, nil
}

// abortAll writes an ABORT marker for every open run and returns how many
// it wrote. client are the options that reach the cluster.
func abortAll(ctx context.Context, client []kgo.Opt, open map[partitionKey]map[int64]run) (int, error) {
	type producer struct {
		id    int64
		epoch int16
	}
	byProducer := map[producer]kadm.TopicsSet{}
	n := 0
	for k, runs := range open {
		for pid, r := range runs {
			pe := producer{pid, r.epoch}
			ts := byProducer[pe]
			ts.Add(k.topic, k.part)
			byProducer[pe] = ts
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	var markers []kadm.TxnMarkers
	for pe, ts := range byProducer {
		markers = append(markers, kadm.TxnMarkers{ProducerID: pe.id, ProducerEpoch: pe.epoch, Commit: false, Topics: ts})
	}
	cl, err := kgo.NewClient(client...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).WriteTxnMarkers(ctx, markers...)
	if err != nil {
		return 0, fmt.Errorf("write ABORT markers: %w", err)
	}
	var errs []error
	for _, m := range resps {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				if p.Err != nil {
					errs = append(errs, fmt.Errorf("ABORT marker for producer %d in %s/%d: %w", m.ProducerID, t.Topic, p.Partition, p.Err))
				}
			}
		}
	}
	return n, errors.Join(errs...)
}

// markRunning marks dir in use by this process.
func markRunning(dir string) error {
	return writeFile(filepath.Join(dir, runningFile), []byte(strconv.Itoa(os.Getpid())+"\n"))
}

// markStopped records a clean stop.
func markStopped(dir string) error {
	err := os.Remove(filepath.Join(dir, runningFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
