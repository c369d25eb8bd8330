package telemetry

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// GroupLag returns, per partition of topic, how many messages the consumer
// group has not committed yet (the end offset minus the committed offset; the
// whole partition when nothing is committed).
func GroupLag(ctx context.Context, c *kafka.Client, topic, group string) (map[int]int64, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(md.Topics) == 0 || md.Topics[0].Error != nil {
		return nil, fmt.Errorf("topic %s not found", topic)
	}
	var parts []int
	var last, first []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
		last = append(last, kafka.LastOffsetOf(p.ID))
		first = append(first, kafka.FirstOffsetOf(p.ID))
	}
	ends, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: last}})
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: first}})
	if err != nil {
		return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	end := map[int]int64{}
	for _, po := range ends.Topics[topic] {
		end[po.Partition] = po.LastOffset
	}
	from := map[int]int64{} // where an uncommitted group starts: the first offset
	for _, po := range starts.Topics[topic] {
		from[po.Partition] = po.FirstOffset
	}
	for _, po := range committed.Topics[topic] {
		if po.CommittedOffset >= 0 {
			from[po.Partition] = po.CommittedOffset
		}
	}
	out := make(map[int]int64, len(parts))
	for p, e := range end {
		out[p] = max(0, e-from[p])
	}
	return out, nil
}
