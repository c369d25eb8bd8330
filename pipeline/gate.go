package pipeline

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// gate holds fetching while the destination or a store cannot take work.
//
// A worker that meets such a failure holds the gate under the failure's cause
// for as long as it keeps retrying, and releases it when its retry succeeds
// (the retried order is the probe) or when it gives up (stop, revocation).
// The gate is closed while any cause is held. Releasing on give-up matters: if
// every retrying worker is gone, fetching resumes and the next order probes
// the destination again, so a pause can never outlive the work that caused
// it. A final cause (unauthorized) stays until the process restarts.
// A gate is safe for concurrent use.
type gate struct {
	isOpen   atomic.Bool // fast path of wait
	mu       sync.Mutex
	holds    map[string]int // cause → holders; -1 for a final cause
	opened   chan struct{}  // closed while the gate is open
	onChange func(open bool, reason string)
}

func newGate(onChange func(open bool, reason string)) *gate {
	g := &gate{holds: map[string]int{}, opened: make(chan struct{}), onChange: onChange}
	close(g.opened)
	g.isOpen.Store(true)
	return g
}

// wait blocks until the gate is open or ctx is done.
func (g *gate) wait(ctx context.Context) error {
	if g.isOpen.Load() {
		return ctx.Err()
	}
	g.mu.Lock()
	ch := g.opened
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hold closes the gate for cause until the returned release is called.
// release is idempotent.
func (g *gate) hold(cause string) (release func()) {
	g.update(func() {
		if g.holds[cause] >= 0 {
			g.holds[cause]++
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			g.update(func() {
				if n := g.holds[cause]; n > 1 {
					g.holds[cause] = n - 1
				} else if n == 1 {
					delete(g.holds, cause)
				}
			})
		})
	}
}

// closeFinal closes the gate for cause until the process restarts.
func (g *gate) closeFinal(cause string) {
	g.update(func() { g.holds[cause] = -1 })
}

// update applies change and reports a change of state or reason.
func (g *gate) update(change func()) {
	g.mu.Lock()
	wasOpen, before := len(g.holds) == 0, g.reasonLocked()
	change()
	open, reason := len(g.holds) == 0, g.reasonLocked()
	switch {
	case wasOpen && !open:
		g.opened = make(chan struct{})
	case !wasOpen && open:
		close(g.opened)
	}
	g.isOpen.Store(open)
	g.mu.Unlock()
	if reason != before && g.onChange != nil {
		g.onChange(open, reason)
	}
}

// state reports whether the gate is open and, if not, why.
func (g *gate) state() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.holds) == 0, g.reasonLocked()
}

// final reports whether a final cause closes the gate, and the causes.
func (g *gate) final() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.holds {
		if n < 0 {
			return true, g.reasonLocked()
		}
	}
	return false, ""
}

func (g *gate) reasonLocked() string {
	causes := make([]string, 0, len(g.holds))
	for c := range g.holds {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	return strings.Join(causes, ", ")
}
