package pipeline

import (
	"log/slog"
	"sync"
	"time"
)

// pauseLog writes the gate's changes of state without a storm: a pause
// whose reason was logged less than quiet ago is not logged again (a
// breaker flapping open and half-open, say), nor is the resume that ends
// it; the next line logged says how many changes were left out. While a
// pause lasts, remind repeats it every remind.
type pauseLog struct {
	log           *slog.Logger
	quiet, remind time.Duration
	// the messages of a pause, its end and its reminder
	paused, resumed, still string
	now                    func() time.Time

	mu         sync.Mutex
	lastReason string    // reason of the last pause logged
	lastAt     time.Time // when it was logged
	pausedAt   time.Time // zero while consuming
	suppressed int
	timer      *time.Timer
}

func newPauseLog(log *slog.Logger) *pauseLog {
	return &pauseLog{log: log, quiet: 30 * time.Second, remind: 5 * time.Minute, now: time.Now,
		paused: "consuming paused", resumed: "consuming resumed", still: "consuming still paused"}
}

// change is the gate's onChange.
func (l *pauseLog) change(open bool, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if open {
		if l.timer != nil {
			l.timer.Stop()
		}
		if now.Sub(l.lastAt) < l.quiet && !l.pausedAt.IsZero() && now.Sub(l.pausedAt) < l.quiet {
			l.suppressed++
			l.pausedAt = time.Time{}
			return
		}
		l.log.Info(l.resumed, "paused_for", now.Sub(l.pausedAt).Round(time.Millisecond).String(), "changes_not_logged", l.suppressed)
		l.pausedAt, l.suppressed = time.Time{}, 0
		return
	}
	if l.pausedAt.IsZero() {
		l.pausedAt = now
	}
	if reason == l.lastReason && now.Sub(l.lastAt) < l.quiet {
		l.suppressed++
	} else {
		l.log.Warn(l.paused, "reason", reason, "changes_not_logged", l.suppressed)
		l.lastReason, l.lastAt, l.suppressed = reason, now, 0
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timer = time.AfterFunc(l.remind, func() { l.reminder(reason) })
}

// reminder repeats a pause that is still on.
func (l *pauseLog) reminder(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pausedAt.IsZero() {
		return
	}
	l.log.Warn(l.still, "reason", reason, "for", l.now().Sub(l.pausedAt).Round(time.Second).String())
	l.timer = time.AfterFunc(l.remind, func() { l.reminder(reason) })
}
