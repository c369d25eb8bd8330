package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

// progress reports a replay's advance: a line rewritten in place on a
// terminal, a plain line every five seconds otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	total int
	began time.Time
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, tty: telemetry.IsTerminal(w), total: total, began: time.Now()}
}

func (p *progress) update(s replay.Summary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	if now.Sub(p.last) < every {
		return
	}
	p.last, p.shown = now, true
	elapsed := now.Sub(p.began).Seconds()
	rate := float64(s.Records) / max(elapsed, 1e-3)
	line := fmt.Sprintf("%d records (%.0f/s)  delivered %d  skipped %d  still invalid %d  failed again %d",
		s.Records, rate, s.Delivered, s.Skipped, s.StillInvalid, s.FailedAgain)
	if p.total > 0 {
		left := float64(p.total-int(s.Records)) / max(rate, 1e-3)
		line = fmt.Sprintf("%d/%d records (%.0f%%, %.0f/s, ETA %s)  delivered %d  skipped %d  still invalid %d  failed again %d",
			s.Records, p.total, 100*float64(s.Records)/float64(p.total), rate, (time.Duration(left) * time.Second).Round(time.Second),
			s.Delivered, s.Skipped, s.StillInvalid, s.FailedAgain)
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r%-120s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// done ends the in-place line on a terminal.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.shown {
		fmt.Fprintln(p.w)
	}
}
