package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/segmerge/segmerge/internal/kafka"
)

// Fetch is the ceiling a pipeline is measured against: it reads every
// partition of topic from its first offset to the end offset listed at
// start with one plain franz-go client, no group and no decoding, counting
// records and value bytes. Its clock runs as the consumer's does, from
// before the first connection until the client is closed; its fetch
// settings are franz-go's defaults, with the consumer's fetch wait
// (kafka.FetchMaxWait).
func Fetch(ctx context.Context, brokers []string, opts []kgo.Opt, topic string) (ChildReport, error) {
	start := time.Now()
	cl, err := kafka.Cluster{Brokers: brokers, Opts: opts}.Client(kgo.FetchMaxWait(kafka.FetchMaxWait))
	if err != nil {
		return ChildReport{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := kafka.StartOffsets(ctx, adm, topic)
	if err != nil {
		return ChildReport{}, err
	}
	ends, err := kafka.EndOffsets(ctx, adm, topic)
	if err != nil {
		return ChildReport{}, err
	}
	from := map[int32]kgo.Offset{}
	for p, end := range ends {
		if end > starts[p] {
			from[p] = kgo.NewOffset().At(starts[p])
		}
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: from})
	var r ChildReport
	for left := len(from); left > 0; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return r, err
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetch %s partition %d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return r, ferr
		}
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			end := ends[fp.Partition]
			for _, rec := range fp.Records {
				if rec.Offset >= end {
					break // written after the start: not part of the run
				}
				r.Records++
				r.Bytes += int64(len(rec.Value))
				if rec.Offset+1 == end { // the bench's producer writes no transaction markers
					left--
				}
			}
		})
	}
	cl.Close()
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}
