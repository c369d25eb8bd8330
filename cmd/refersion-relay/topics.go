package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// errNoTopic is a topic the brokers say does not exist.
var errNoTopic = errors.New("no such topic")

// checkTopic asks the brokers whether topic exists, without creating it: the
// metadata request leaves auto-creation off, so a typo is not turned into a
// new, empty topic. It returns an error wrapping errNoTopic when the brokers
// answer that the topic is unknown, and another error when they cannot be
// asked. transport may be nil (plain TCP).
func checkTopic(ctx context.Context, brokers []string, transport *kafka.Transport, topic string) error {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	if transport != nil {
		c.Transport = transport
	}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("asking %v about topic %s: %w", brokers, topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		switch {
		case errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			return fmt.Errorf("topic %s does not exist on %v: %w", topic, brokers, errNoTopic)
		case t.Error != nil:
			return fmt.Errorf("topic %s on %v: %w", topic, brokers, t.Error)
		case len(t.Partitions) == 0:
			return fmt.Errorf("topic %s does not exist on %v (no partitions): %w", topic, brokers, errNoTopic)
		}
		return nil
	}
	return fmt.Errorf("topic %s does not exist on %v (not in the brokers' answer): %w", topic, brokers, errNoTopic)
}
