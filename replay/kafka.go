package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/segmentio/kafka-go"
)

// KafkaSource reads a topic from its start (or from Since) to its end as it
// was when Open ran, partition by partition. It never joins a consumer group
// and commits nothing.
type KafkaSource struct {
	brokers     []string
	topic       string
	dialer      *kafka.Dialer
	until       time.Time
	deadLetters bool
	ranges      []partitionRange
}

type partitionRange struct {
	id         int
	start, end int64 // [start, end)
}

// KafkaOptions choose what a KafkaSource reads.
type KafkaOptions struct {
	Brokers   []string
	Topic     string
	Dialer    *kafka.Dialer    // nil for plain TCP
	Transport *kafka.Transport // nil for plain TCP
	// Since and Until bound the message time; zero means unbounded.
	Since, Until time.Time
	// DeadLetters parses each message as a dead-letter record.
	DeadLetters bool
}

// OpenKafka looks up the topic's partitions and offsets. Its errors are
// connection errors: they name the brokers and the topic.
func OpenKafka(ctx context.Context, o KafkaOptions) (*KafkaSource, error) {
	c := &kafka.Client{Addr: kafka.TCP(o.Brokers...), Timeout: 10 * time.Second}
	if o.Transport != nil {
		c.Transport = o.Transport
	}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{o.Topic}})
	if err != nil {
		return nil, fmt.Errorf("reading metadata of topic %s from %v: %w", o.Topic, o.Brokers, err)
	}
	if len(md.Topics) == 0 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		return nil, fmt.Errorf("topic %s does not exist on %v", o.Topic, o.Brokers)
	}
	var starts, ends []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		ends = append(ends, kafka.LastOffsetOf(p.ID))
		if o.Since.IsZero() {
			starts = append(starts, kafka.FirstOffsetOf(p.ID))
		} else {
			starts = append(starts, kafka.TimeOffsetOf(p.ID, o.Since))
		}
	}
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{o.Topic: ends}})
	if err != nil {
		return nil, fmt.Errorf("reading end offsets of %s: %w", o.Topic, err)
	}
	so, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{o.Topic: starts}})
	if err != nil {
		return nil, fmt.Errorf("reading start offsets of %s: %w", o.Topic, err)
	}
	s := &KafkaSource{brokers: o.Brokers, topic: o.Topic, dialer: o.Dialer, until: o.Until, deadLetters: o.DeadLetters}
	end := map[int]int64{}
	for _, po := range lo.Topics[o.Topic] {
		end[po.Partition] = po.LastOffset
	}
	for _, po := range so.Topics[o.Topic] {
		start := po.FirstOffset
		if !o.Since.IsZero() {
			// kafka-go answers a time query in Offsets: the offset of the
			// first message at or after Since, or -1 when none is that recent.
			start = end[po.Partition]
			for off := range po.Offsets {
				if off >= 0 {
					start = off
				}
			}
		}
		if start < end[po.Partition] {
			s.ranges = append(s.ranges, partitionRange{id: po.Partition, start: start, end: end[po.Partition]})
		}
	}
	return s, nil
}

// Total implements Source: the messages in range (an upper bound with Until).
func (s *KafkaSource) Total() int {
	n := 0
	for _, r := range s.ranges {
		n += int(r.end - r.start)
	}
	return n
}

// Each implements Source.
func (s *KafkaSource) Each(ctx context.Context, fn func(Record) error) error {
	for _, pr := range s.ranges {
		if err := s.partition(ctx, pr, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *KafkaSource) partition(ctx context.Context, pr partitionRange, fn func(Record) error) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, Topic: s.topic, Partition: pr.id, Dialer: s.dialer,
		MaxWait: 250 * time.Millisecond, MaxBytes: 8 << 20})
	defer r.Close()
	if err := r.SetOffset(pr.start); err != nil {
		return err
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("reading %s partition %d: %w", s.topic, pr.id, err)
		}
		if !s.until.IsZero() && m.Time.After(s.until) {
			return nil
		}
		rec := Record{Event: m.Value, Time: m.Time}
		if s.deadLetters {
			d, err := deadletter.Parse(m)
			if err != nil {
				return fmt.Errorf("%s partition %d offset %d: %w", s.topic, pr.id, m.Offset, err)
			}
			rec.DeadLetter = &d
		}
		if err := fn(rec); err != nil {
			return err
		}
		if m.Offset >= pr.end-1 {
			return nil
		}
	}
}
