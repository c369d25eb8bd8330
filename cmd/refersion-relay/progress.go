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
// terminal, a plain line every five seconds otherwise. finish writes the
// last line with the final counts, so that the line above the summary is
// never stale.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	total  int
	dryRun bool // orders are counted as "would send", not "delivered"
	began  time.Time
	last   time.Time
	shown  bool
	every  time.Duration
}

func newProgress(w io.Writer, total int, dryRun bool) *progress {
	p := &progress{w: w, tty: telemetry.IsTerminal(w), total: total, dryRun: dryRun, began: time.Now(), every: 5 * time.Second}
	if p.tty {
		p.every = 200 * time.Millisecond
	}
	return p
}

// update shows s, at most once per interval.
func (p *progress) update(s replay.Summary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last, p.shown = now, true
	p.write(s, now)
}

// finish shows s, the final counts, if a progress line was shown before,
// and ends the in-place line on a terminal.
func (p *progress) finish(s replay.Summary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.shown {
		return
	}
	p.write(s, time.Now())
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) write(s replay.Summary, now time.Time) {
	fmt.Fprint(p.w, p.line(s, now.Sub(p.began)))
}

// line is one progress line: "\r" and padding on a terminal, a newline
// otherwise.
func (p *progress) line(s replay.Summary, elapsed time.Duration) string {
	sent := "delivered"
	if p.dryRun {
		sent = "would send"
	}
	rate := float64(s.Records) / max(elapsed.Seconds(), 1e-3)
	counts := fmt.Sprintf("%s %d  skipped %d  still invalid %d  failed again %d", sent, s.Delivered, s.Skipped, s.StillInvalid, s.FailedAgain)
	line := fmt.Sprintf("%d records (%.0f/s)  %s", s.Records, rate, counts)
	if p.total > 0 {
		left := float64(p.total-int(s.Records)) / max(rate, 1e-3)
		line = fmt.Sprintf("%d/%d records (%.0f%%, %.0f/s, ETA %s)  %s",
			s.Records, p.total, 100*float64(s.Records)/float64(p.total), rate, (time.Duration(left) * time.Second).Round(time.Second), counts)
	}
	if p.tty {
		return fmt.Sprintf("\r%-120s", line)
	}
	return line + "\n"
}
