package pipeline

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// gate holds fetching while the destination or a store cannot take work.
// Each cause closes it under its own name (breaker open, destination
// unavailable, identity store unavailable, unauthorized); it is open when no
// cause is left. Workers remove a cause when the operation that failed
// succeeds again: a retried order is the probe. A cause closed as final
// (unauthorized) stays until the process restarts with new keys.
// A gate is safe for concurrent use.
type gate struct {
	mu       sync.Mutex
	causes   map[string]bool // cause → final
	opened   chan struct{}   // closed while the gate is open
	onChange func(open bool, reason string)
}

func newGate(onChange func(open bool, reason string)) *gate {
	g := &gate{causes: map[string]bool{}, opened: make(chan struct{}), onChange: onChange}
	close(g.opened)
	return g
}

// wait blocks until the gate is open or ctx is done.
func (g *gate) wait(ctx context.Context) error {
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

// close holds fetching for cause. A final cause is never removed.
func (g *gate) close(cause string, final bool) {
	g.mu.Lock()
	if f, ok := g.causes[cause]; ok && (f || !final) {
		g.mu.Unlock()
		return
	}
	wasOpen := len(g.causes) == 0
	g.causes[cause] = final
	if wasOpen {
		g.opened = make(chan struct{})
	}
	reason := g.reasonLocked()
	g.mu.Unlock()
	if g.onChange != nil {
		g.onChange(false, reason)
	}
}

// open removes cause; fetching goes on when no cause is left.
func (g *gate) open(cause string) {
	g.mu.Lock()
	final, ok := g.causes[cause]
	if !ok || final {
		g.mu.Unlock()
		return
	}
	delete(g.causes, cause)
	nowOpen := len(g.causes) == 0
	if nowOpen {
		close(g.opened)
	}
	reason := g.reasonLocked()
	g.mu.Unlock()
	if g.onChange != nil {
		g.onChange(nowOpen, reason)
	}
}

// state reports whether the gate is open and, if not, why.
func (g *gate) state() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.causes) == 0, g.reasonLocked()
}

func (g *gate) reasonLocked() string {
	causes := make([]string, 0, len(g.causes))
	for c := range g.causes {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	return strings.Join(causes, ", ")
}
