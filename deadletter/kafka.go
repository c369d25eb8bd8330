package deadletter

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Kafka writes dead letters to a Kafka topic and waits for every
// in-sync replica to acknowledge each one (RequiredAcks: all).
type Kafka struct {
	w *kafka.Writer
}

// NewKafka returns a writer to topic. transport may be nil for
// plain TCP; Close releases it.
func NewKafka(brokers []string, topic string, transport *kafka.Transport) *Kafka {
	w := &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Topic:                  topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           5 * time.Millisecond,
		MaxAttempts:            3,
		AllowAutoTopicCreation: true,
	}
	if transport != nil {
		w.Transport = transport
	}
	return &Kafka{w: w}
}

// Write implements Writer.
func (k *Kafka) Write(ctx context.Context, d Record) error {
	if err := k.w.WriteMessages(ctx, d.Message()); err != nil {
		return fmt.Errorf("writing to dead-letter topic %s: %w", k.w.Topic, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (k *Kafka) Close() error { return k.w.Close() }
