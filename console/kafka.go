package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
)

// KafkaDeadLetters reads a dead-letter topic directly, partition by
// partition; it never joins a consumer group and commits nothing.
type KafkaDeadLetters struct {
	Brokers   []string
	Topic     string
	Dialer    *kafka.Dialer    // nil for plain TCP
	Transport *kafka.Transport // nil for plain TCP
	// MaxBytes bounds what one List reads (default 16 MiB): a record may be
	// up to KAFKA_DLQ_MAX_BYTES.
	MaxBytes int
}

func (k KafkaDeadLetters) client() *kafka.Client {
	c := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 10 * time.Second}
	if k.Transport != nil {
		c.Transport = k.Transport
	}
	return c
}

// errNoTopic means the dead-letter topic does not exist yet.
var errNoTopic = errors.New("no such topic")

// offsets returns the first and end offsets of each partition.
func (k KafkaDeadLetters) offsets(ctx context.Context) (first, end map[int]int64, err error) {
	c := k.client()
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{k.Topic}})
	if err != nil {
		return nil, nil, fmt.Errorf("metadata of %s: %w", k.Topic, err)
	}
	if len(md.Topics) == 0 || errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) || (md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == 0) {
		return nil, nil, errNoTopic
	}
	if err := md.Topics[0].Error; err != nil {
		return nil, nil, fmt.Errorf("metadata of %s: %w", k.Topic, err)
	}
	var lasts, firsts []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		lasts = append(lasts, kafka.LastOffsetOf(p.ID))
		firsts = append(firsts, kafka.FirstOffsetOf(p.ID))
	}
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{k.Topic: lasts}})
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets of %s: %w", k.Topic, err)
	}
	fo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{k.Topic: firsts}})
	if err != nil {
		return nil, nil, fmt.Errorf("first offsets of %s: %w", k.Topic, err)
	}
	first, end = map[int]int64{}, map[int]int64{}
	for _, po := range lo.Topics[k.Topic] {
		end[po.Partition] = po.LastOffset
	}
	for _, po := range fo.Topics[k.Topic] {
		first[po.Partition] = po.FirstOffset
	}
	return first, end, nil
}

// List implements DeadLetters: the newest limit records of each partition,
// then the newest limit of those.
func (k KafkaDeadLetters) List(ctx context.Context, limit int) (Listing, error) {
	first, end, err := k.offsets(ctx)
	if errors.Is(err, errNoTopic) {
		return Listing{Missing: true}, nil
	}
	if err != nil {
		return Listing{}, err
	}
	budget := k.MaxBytes
	if budget <= 0 {
		budget = 16 << 20
	}
	var l Listing
	for p, e := range end {
		l.Total += max(0, e-first[p])
		from := max(first[p], e-int64(limit))
		if from >= e {
			continue
		}
		err := k.read(ctx, p, from, func(m kafka.Message) (bool, error) {
			d, err := deadletter.Parse(m)
			if err != nil {
				return false, fmt.Errorf("%s partition %d offset %d: %w", k.Topic, p, m.Offset, err)
			}
			l.Records = append(l.Records, DeadLetter{ID: RecordID{p, m.Offset}, Time: m.Time, Record: d})
			budget -= len(m.Value) + len(m.Key)
			return m.Offset < e-1 && budget > 0, nil
		})
		if err != nil {
			return Listing{}, err
		}
	}
	slices.SortFunc(l.Records, func(a, b DeadLetter) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return int(b.ID.Offset - a.ID.Offset)
	})
	if len(l.Records) > limit {
		l.Records = l.Records[:limit]
	}
	return l, nil
}

// Get implements DeadLetters: one reader per partition, reading on from one
// record to the next when they are close, seeking otherwise.
func (k KafkaDeadLetters) Get(ctx context.Context, ids []RecordID) ([]DeadLetter, error) {
	first, end, err := k.offsets(ctx)
	if errors.Is(err, errNoTopic) {
		return nil, fmt.Errorf("the dead-letter topic %s does not exist", k.Topic)
	}
	if err != nil {
		return nil, err
	}
	byPartition := map[int][]int64{}
	for _, id := range ids {
		if e, ok := end[id.Partition]; !ok || id.Offset < first[id.Partition] || id.Offset >= e {
			return nil, fmt.Errorf("record %s is not in %s", id, k.Topic)
		}
		byPartition[id.Partition] = append(byPartition[id.Partition], id.Offset)
	}
	got := map[RecordID]DeadLetter{}
	for p, offsets := range byPartition {
		slices.Sort(offsets)
		if err := k.readAt(ctx, p, slices.Compact(offsets), got); err != nil {
			return nil, err
		}
	}
	out := make([]DeadLetter, 0, len(ids))
	for _, id := range ids {
		out = append(out, got[id])
	}
	return out, nil
}

// readAt reads the records of partition at offsets (ascending) into got.
func (k KafkaDeadLetters) readAt(ctx context.Context, partition int, offsets []int64, got map[RecordID]DeadLetter) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers, Topic: k.Topic, Partition: partition, Dialer: k.Dialer,
		MaxWait: 250 * time.Millisecond, MaxBytes: 8 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	next := int64(-1) // the offset the reader reads next
	for _, want := range offsets {
		if next < 0 || want < next || want-next > 1000 { // far: seek; near: read on
			if err := r.SetOffset(want); err != nil {
				return err
			}
		}
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return fmt.Errorf("reading %s partition %d: %w", k.Topic, partition, err)
			}
			next = m.Offset + 1
			if m.Offset < want {
				continue
			}
			id := RecordID{partition, want}
			if m.Offset > want {
				return fmt.Errorf("record %s is no longer in %s (retention)", id, k.Topic)
			}
			d, err := deadletter.Parse(m)
			if err != nil {
				return fmt.Errorf("record %s: %w", id, err)
			}
			got[id] = DeadLetter{ID: id, Time: m.Time, Record: d}
			break
		}
	}
	return nil
}

// read calls fn with the messages of partition from offset on, while fn
// returns true.
func (k KafkaDeadLetters) read(ctx context.Context, partition int, offset int64, fn func(kafka.Message) (bool, error)) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers, Topic: k.Topic, Partition: partition, Dialer: k.Dialer,
		MaxWait: 250 * time.Millisecond, MaxBytes: 8 << 20})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("reading %s partition %d: %w", k.Topic, partition, err)
		}
		more, err := fn(m)
		if err != nil || !more {
			return err
		}
	}
}
