package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the metrics Collector exports; a dashboard may rely on them.
const (
	RecordsConsumed  = "segmerge_records_consumed_total"
	BatchesMerged    = "segmerge_batches_merged_total"
	IntegersMerged   = "segmerge_integers_merged_total"
	BatchesProduced  = "segmerge_batches_produced_total"
	RecordsProduced  = "segmerge_records_produced_total"
	DeadLetters      = "segmerge_dead_letters_total"
	ConsumerLag      = "segmerge_consumer_lag_records"
	BatchLatency     = "segmerge_batch_latency_seconds"
	HeldBytes        = "segmerge_held_bytes"
	PausedPartitions = "segmerge_paused_partitions"
	PendingBatches   = "segmerge_pending_batches"
	Transactions     = "segmerge_transactions_total"
	Rebalances       = "segmerge_rebalances_total"
	BuildInfo        = "segmerge_build_info"
)

// Stage says which figures of a Run a Collector exports.
type Stage int

const (
	Consume     Stage = iota // a merge stage (or the repartition stage)
	Produce                  // a producer
	BrokerStage              // a broker: build info only
)

// Collector exports r to Prometheus, as the figures of stage: read at each
// scrape, with no request to a broker. version labels segmerge_build_info.
func Collector(r *Run, stage Stage, version string) prometheus.Collector {
	return &collector{r: r, stage: stage, version: version}
}

type collector struct {
	r       *Run
	stage   Stage
	version string
}

var (
	descRecords   = prometheus.NewDesc(RecordsConsumed, "Records consumed from the input topic.", nil, nil)
	descBatches   = prometheus.NewDesc(BatchesMerged, "Batches merged and written.", nil, nil)
	descIntegers  = prometheus.NewDesc(IntegersMerged, "Integers merged and written.", nil, nil)
	descProduced  = prometheus.NewDesc(BatchesProduced, "Batches produced.", nil, nil)
	descProdRecs  = prometheus.NewDesc(RecordsProduced, "Records produced and acknowledged.", nil, nil)
	descDead      = prometheus.NewDesc(DeadLetters, "Records sent to the dead-letter topic, by segmerge.reason.", []string{"reason"}, nil)
	descLag       = prometheus.NewDesc(ConsumerLag, "Records between the consumer's position and the partition's high watermark, as the client last saw them.", []string{"topic", "partition"}, nil)
	descLatency   = prometheus.NewDesc(BatchLatency, "From a batch's last segment's record timestamp to the batch written.", nil, nil)
	descHeld      = prometheus.NewDesc(HeldBytes, "Bytes of records held while their batches assemble (and dead letters held for their commit).", nil, nil)
	descPaused    = prometheus.NewDesc(PausedPartitions, "Partitions paused because the memory budget is full.", nil, nil)
	descPending   = prometheus.NewDesc(PendingBatches, "Batches begun and not yet released.", nil, nil)
	descTxns      = prometheus.NewDesc(Transactions, "Transactions (or plain offset commits) ended, by result.", []string{"result"}, nil)
	descRebalance = prometheus.NewDesc(Rebalances, "Times partitions were assigned to or taken from this process.", nil, nil)
	descBuild     = prometheus.NewDesc(BuildInfo, "segmerge's version; always 1.", []string{"version"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, c.version)
	switch c.stage {
	case Produce:
		counter(descProduced, r.Batches.Load())
		counter(descProdRecs, r.Records.Load())
		return
	case BrokerStage:
		return
	}
	counter(descRecords, r.Records.Load())
	counter(descBatches, r.Batches.Load())
	counter(descIntegers, r.Integers.Load())
	gauge(descHeld, r.HeldBytes.Load())
	gauge(descPaused, r.PausedPartitions.Load())
	gauge(descPending, r.PendingBatches.Load())
	counter(descTxns, r.Committed.Load(), "committed")
	counter(descTxns, r.Aborted.Load(), "aborted")
	counter(descRebalance, r.Rebalances.Load())
	for reason, n := range r.DeadLetters() {
		counter(descDead, n, reason)
	}
	r.Lag(func(topic string, p int32, lag int64) { gauge(descLag, lag, topic, strconv.Itoa(int(p))) })
	r.mu.Lock()
	cum, sum, n := r.latency.cumulative(), r.latency.sum, r.latency.n
	r.mu.Unlock()
	ch <- prometheus.MustNewConstHistogram(descLatency, n, sum, cum)
}
