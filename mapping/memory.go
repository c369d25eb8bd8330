package mapping

import (
	"context"
	"sync"
)

// MemoryIdentities is an in-process IdentityStore. It is safe for concurrent
// use and never fails. What it holds is lost on restart.
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
func (s *MemoryIdentities) Lookup(_ context.Context, id string) (Traits, bool, error) {
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
func (s *MemoryIdentities) Merge(_ context.Context, id string, t Traits) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.traits[id] = t.Fill(s.traits[id])
	return nil
}

// Link implements IdentityWriter.
func (s *MemoryIdentities) Link(_ context.Context, from, to string) error {
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

// Forget implements IdentityWriter.
func (s *MemoryIdentities) Forget(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.traits, id)
	if to, ok := s.links[id]; ok {
		delete(s.back[to], id)
		delete(s.links, id)
	}
	for from := range s.back[id] { // the same person under other ids
		delete(s.links, from)
		delete(s.traits, from)
	}
	delete(s.back, id)
	return nil
}

// Len returns the number of people with stored traits.
func (s *MemoryIdentities) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.traits)
}
