// Package demo runs the product end to end in one process for the demo
// command: it watches the relay's progress over a generated stream and
// summarises what became of every event.
package demo

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/telemetry"
	"github.com/segmentio/kafka-go"
)

// Watch prints progress until every event is handled and committed (lag,
// the group's uncommitted messages, is 0).
// It reports false if ctx ended first, and when the first message arrived
// (the group join before it is not counted in the rate).
func Watch(ctx context.Context, p *pipeline.Pipeline, lag func() int64, total int, w io.Writer) (bool, time.Time) {
	tty := telemetry.IsTerminal(w)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last, began := time.Time{}, time.Now()
	for first := true; ; {
		s := p.Stats()
		if first && s.Messages > 0 {
			first, began = false, time.Now()
		}
		complete := s.Events >= int64(total) && s.InFlight == 0 && lag() == 0
		if now := time.Now(); complete || (tty && now.Sub(last) >= 250*time.Millisecond) || now.Sub(last) >= 2*time.Second {
			last = now
			rate := float64(s.Events) / time.Since(began).Seconds()
			line := fmt.Sprintf("events %d/%d (%.0f%%)  delivered %d  dead-lettered %d  dropped %d  %.0f events/s",
				s.Events, total, 100*float64(s.Events)/float64(total), s.Delivered, s.DeadLetteredTotal(), s.DroppedTotal(), rate)
			if tty {
				fmt.Fprintf(w, "\r%-100s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
		if complete {
			if tty {
				fmt.Fprintln(w)
			}
			return true, began
		}
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			return false, began
		case <-tick.C:
		}
	}
}

// Lag returns how many messages of topic the group has not committed, or
// -1 if the broker at addr cannot say.
func Lag(addr, topic, group string) int64 {
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	parts, err := telemetry.GroupLag(context.Background(), c, topic, group)
	if err != nil {
		return -1
	}
	var n int64
	for _, l := range parts {
		n += l
	}
	return n
}
