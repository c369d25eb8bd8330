package mapping

import (
	"context"
	"sync"
)

// MemoryIdentities is an in-process IdentityStore, unbounded, for the map
// command and tests (the relay's memory backend is state/memory). It is safe
// for concurrent use and fails only when ctx is done. What it holds is lost
// on restart.
type MemoryIdentities struct {
	mu     sync.RWMutex
	traits map[string]Traits
	links  map[string]string              // from → to
	back   map[string]map[string]struct{} // to → every from linked to it
}

// NewMemoryIdentities returns an empty store.
func NewMemoryIdentities() *MemoryIdentities {
	return &MemoryIdentities{
		traits: map[string]Traits{},
		links:  map[string]string{},
		back:   map[string]map[string]struct{}{},
	}
}

// Lookup returns id's traits, with gaps filled from the id it is linked to.
func (s *MemoryIdentities) Lookup(ctx context.Context, id string) (Traits, bool, error) {
	if err := ctx.Err(); err != nil {
		return Traits{}, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, found := s.traits[id]
	if to, ok := s.links[id]; ok {
		if lt, ok := s.traits[to]; ok {
			t, found = t.Fill(lt), true
		}
	}
	return t, found, nil
}

// Merge implements IdentityWriter.
func (s *MemoryIdentities) Merge(ctx context.Context, id string, t Traits) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.traits[id] = t.Fill(s.traits[id])
	return nil
}

// Link implements IdentityWriter.
func (s *MemoryIdentities) Link(ctx context.Context, from, to string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.links[from]; ok {
		if old == to {
			return nil
		}
		delete(s.back[old], from)
	}
	s.links[from] = to
	if s.back[to] == nil {
		s.back[to] = map[string]struct{}{}
	}
	s.back[to][from] = struct{}{}
	if ft, ok := s.traits[from]; ok {
		s.traits[to] = s.traits[to].Fill(ft)
	}
	return nil
}

// Forget implements IdentityWriter: it erases every id linked to id, in
// either direction and transitively, since Link copies traits between them.
func (s *MemoryIdentities) Forget(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	person := map[string]bool{id: true}
	queue := []string{id}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		next := []string{}
		if to, ok := s.links[cur]; ok {
			next = append(next, to)
		}
		for from := range s.back[cur] {
			next = append(next, from)
		}
		for _, n := range next {
			if !person[n] {
				person[n] = true
				queue = append(queue, n)
			}
		}
	}
	for p := range person {
		delete(s.traits, p)
		if to, ok := s.links[p]; ok {
			delete(s.back[to], p)
			delete(s.links, p)
		}
		delete(s.back, p)
	}
	return nil
}

// Len returns the number of people with stored traits.
func (s *MemoryIdentities) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.traits)
}
