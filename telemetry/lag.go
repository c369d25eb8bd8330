package telemetry

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// lagTimeout bounds one probe, so that a slow broker cannot hold a scrape.
const lagTimeout = 3 * time.Second

// lagProbe asks the brokers for the consumer group's lag per partition, at
// most once per interval: collections in between get the last answer. A
// failed probe reports no lag at all (a stale number would mislead) until a
// probe succeeds again; the failure and the recovery are logged once each.
// Safe for concurrent use.
type lagProbe struct {
	client       *kafka.Client
	topic, group string
	every        time.Duration
	log          *slog.Logger

	mu      sync.Mutex
	at      time.Time
	last    map[int]int64
	failing bool
}

func newLagProbe(c *kafka.Client, topic, group string, every time.Duration, log *slog.Logger) *lagProbe {
	if every <= 0 {
		every = 5 * time.Second
	}
	return &lagProbe{client: c, topic: topic, group: group, every: every, log: log}
}

// get returns the lag per partition; the map is the caller's.
func (p *lagProbe) get(ctx context.Context) map[int]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < p.every {
		return maps.Clone(p.last)
	}
	ctx, cancel := context.WithTimeout(ctx, lagTimeout)
	defer cancel()
	lag, err := GroupLag(ctx, p.client, p.topic, p.group)
	p.at = time.Now()
	switch {
	case err != nil:
		p.last = nil
		if !p.failing {
			p.log.Warn("consumer lag unavailable", "topic", p.topic, "group", p.group, "error", err)
		}
		p.failing = true
	case p.failing:
		p.log.Info("consumer lag available again", "topic", p.topic, "group", p.group)
		p.failing = false
		p.last = lag
	default:
		p.last = lag
	}
	return maps.Clone(p.last)
}
