package memory

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// Identities is a bounded store.Identities in process memory. An entry
// is one id: its traits, the id it links to and the ids linking to it. It
// lives for the TTL after its last write (Merge of it, or Link from or to
// it); when a bound is passed the entry written longest ago is evicted and
// its links are cut. Forget erases the whole person: every id reachable from
// id through links in either direction.
type Identities struct {
	opts Options

	mu sync.Mutex
	c  *cache[*person]
}

type person struct {
	traits mapping.Traits
	to     string // the id this one links to; "" for none
	// The ids linking to this one: a slice while there are few (most people
	// have one or two devices, and a map of them costs ten times the
	// slice), a set once there are more than manyFroms, so that linking
	// stays constant time however many ids one person has.
	froms   []string
	fromSet map[string]struct{}
}

// manyFroms is how many ids linking to one person a slice holds.
const manyFroms = 16

func (p *person) addFrom(id string) {
	switch {
	case p.fromSet != nil:
		p.fromSet[id] = struct{}{}
	case slices.Contains(p.froms, id):
	case len(p.froms) < manyFroms:
		p.froms = append(p.froms, id)
	default:
		p.fromSet = make(map[string]struct{}, 2*manyFroms)
		for _, f := range p.froms {
			p.fromSet[f] = struct{}{}
		}
		p.fromSet[id] = struct{}{}
		p.froms = nil
	}
}

func (p *person) removeFrom(id string) {
	if p.fromSet != nil {
		delete(p.fromSet, id)
	} else if i := slices.Index(p.froms, id); i >= 0 {
		p.froms = slices.Delete(p.froms, i, i+1)
	}
}

// fromIDs returns the ids linking to p, in a new slice.
func (p *person) fromIDs() []string {
	if p.fromSet != nil {
		return slices.Collect(maps.Keys(p.fromSet))
	}
	return slices.Clone(p.froms)
}

// size is what p costs beyond its cache entry: its text, and the slice or
// set of the ids linking to it.
func (p *person) size() int {
	n := personSize + traitsSize(p.traits) + len(p.to)
	switch {
	case p.fromSet != nil:
		n += mapSize
		for f := range p.fromSet {
			n += len(f) + mapSlotSize
		}
	case cap(p.froms) > 0:
		n += 16 * cap(p.froms)
		for _, f := range p.froms {
			n += len(f)
		}
	}
	return n
}

func (p *person) empty() bool {
	return p.traits.IsZero() && p.to == "" && len(p.froms) == 0 && len(p.fromSet) == 0
}

// NewIdentities returns an empty store; opts.TTL defaults to 90 days.
func NewIdentities(opts Options) *Identities {
	s := &Identities{opts: opts.withDefaults(DefaultIdentityTTL)}
	s.c = newCache[*person](s.opts.MaxEntries, s.opts.MaxBytes)
	s.c.evicted = s.cut
	return s
}

// Lookup implements store.Identities.
func (s *Identities) Lookup(ctx context.Context, id string) (mapping.Traits, bool, error) {
	if err := ctx.Err(); err != nil {
		return mapping.Traits{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	p, ok := s.c.get(id, now)
	if !ok {
		return mapping.Traits{}, false, nil
	}
	t := p.traits
	if p.to != "" {
		if q, ok := s.c.get(p.to, now); ok {
			t = t.Fill(q.traits)
		}
	}
	return t, !t.IsZero(), nil
}

// Merge implements store.Identities.
func (s *Identities) Merge(ctx context.Context, id string, t mapping.Traits) error {
	if err := ctx.Err(); err != nil || t.IsZero() {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	s.c.expire(now)
	p := s.entry(id)
	p.traits = t.Fill(p.traits)
	s.save(id, p, now)
	s.c.trim()
	return nil
}

// Link implements store.Identities.
func (s *Identities) Link(ctx context.Context, from, to string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if from == to {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	s.c.expire(now)
	p := s.entry(from)
	if p.to != "" && p.to != to {
		s.unlinkFrom(p.to, from)
	}
	p.to = to
	q := s.entry(to)
	q.addFrom(from)
	q.traits = q.traits.Fill(p.traits)
	s.save(from, p, now)
	s.save(to, q, now)
	s.c.trim()
	return nil
}

// Forget implements store.Identities: it erases id and every id
// linked to it, directly or through other links.
func (s *Identities) Forget(ctx context.Context, id string) error {
	_, err := s.Erase(ctx, id)
	return err
}

// Erase implements store.Eraser.
func (s *Identities) Erase(ctx context.Context, id string) (store.Erased, error) {
	if err := ctx.Err(); err != nil {
		return store.Erased{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]struct{}{id: {}}
	for queue := []string{id}; len(queue) > 0; queue = queue[1:] {
		p, ok := s.c.peek(queue[0])
		if !ok {
			continue
		}
		next := append(p.fromIDs(), p.to)
		for _, n := range next {
			if _, done := seen[n]; n != "" && !done {
				seen[n] = struct{}{}
				queue = append(queue, n)
			}
		}
	}
	var n store.Erased
	for x := range seen {
		if p, ok := s.c.peek(x); ok {
			n.IDs++
			if !p.traits.IsZero() {
				n.Traits++
			}
			if p.to != "" {
				n.Links++
			}
		}
		s.c.del(x)
	}
	return n, nil
}

// Flush implements store.Identities. A change is in place when its call
// returns, and nothing outlives the process anyway: Flush returns nil.
func (s *Identities) Flush(context.Context) error { return nil }

// Len returns the number of ids stored, expired ones not yet removed included.
func (s *Identities) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.len()
}

// Bytes returns the memory charged to the entries (see Options.MaxBytes).
func (s *Identities) Bytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.size()
}

// entry returns id's person, a new empty one if none is stored.
func (s *Identities) entry(id string) *person {
	if p, ok := s.c.peek(id); ok {
		return p
	}
	return &person{}
}

func (s *Identities) save(id string, p *person, now time.Time) {
	s.c.put(id, p, p.size(), now.Add(s.opts.TTL))
}

// unlinkFrom removes from's link out of to's entry, deleting to's entry
// if nothing is left in it.
func (s *Identities) unlinkFrom(to, from string) {
	q, ok := s.c.peek(to)
	if !ok {
		return
	}
	q.removeFrom(from)
	s.resize(to, q)
}

// cut runs when id's entry p was evicted or expired: links to and from it
// are cut, so no other entry names it.
func (s *Identities) cut(id string, p *person) {
	if p.to != "" {
		s.unlinkFrom(p.to, id)
	}
	for _, f := range p.fromIDs() {
		if r, ok := s.c.peek(f); ok && r.to == id {
			r.to = ""
			s.resize(f, r)
		}
	}
}

func (s *Identities) resize(id string, p *person) {
	if p.empty() {
		s.c.del(id)
		return
	}
	s.c.resize(id, p, p.size())
}

var _ store.Eraser = (*Identities)(nil)
