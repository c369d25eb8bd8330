package storefront

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Produce writes a generated stream to topic, keyed by anonymousId, and
// returns its counts.
// transport may be nil for plain TCP.
func Produce(ctx context.Context, brokers []string, topic string, transport *kafka.Transport, o Options) (Counts, error) {
	g, err := New(o)
	if err != nil {
		return Counts{}, err
	}
	return ProduceFrom(ctx, brokers, topic, transport, g)
}

// ProduceFrom is Produce for the lines g has left, so that the caller keeps
// g for what it tells after (StoreCounts, Survivors).
func ProduceFrom(ctx context.Context, brokers []string, topic string, transport *kafka.Transport, g *Generator) (Counts, error) {
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchSize: 1000, AllowAutoTopicCreation: true}
	if transport != nil {
		w.Transport = transport
	}
	defer w.Close()
	batch := make([]kafka.Message, 0, 1000)
	flush := func() error {
		err := w.WriteMessages(ctx, batch...)
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("producing to %s: %w", topic, err)
		}
		return nil
	}
	for {
		l, ok := g.Next()
		if !ok {
			break
		}
		batch = append(batch, kafka.Message{Key: []byte(l.Events[0].AnonymousID), Value: bytes.Clone(l.Data)})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return g.Counts(), err
			}
		}
	}
	return g.Counts(), flush()
}
