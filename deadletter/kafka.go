package deadletter

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Kafka writes dead letters to a Kafka topic and waits for every
// in-sync replica to acknowledge each one (RequiredAcks: all).
//
// Every record is bounded to MaxBytes (Record.Bound). A record the topic
// still refuses for good (too large for the topic's max.message.bytes, or
// invalid) is written once more in its smallest form (Record.Minimal), so a
// refused record is never retried forever; if even that is refused, Write
// returns a *RefusedError.
type Kafka struct {
	// MaxBytes bounds a record; 0 means DefaultMaxBytes. Set it before the
	// first Write.
	MaxBytes int
	w        *kafka.Writer
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
	err := k.w.WriteMessages(ctx, d.Bound(k.MaxBytes).Message())
	if err == nil {
		return nil
	}
	if !refused(err) {
		return fmt.Errorf("writing to dead-letter topic %s: %w", k.w.Topic, err)
	}
	m := d.Minimal(fmt.Sprintf("the topic refused the whole record (%v); the event is at its source offset", err))
	if err := k.w.WriteMessages(ctx, m.Message()); err != nil {
		if refused(err) {
			return &RefusedError{Topic: k.w.Topic, Err: err}
		}
		return fmt.Errorf("writing to dead-letter topic %s: %w", k.w.Topic, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (k *Kafka) Close() error { return k.w.Close() }
