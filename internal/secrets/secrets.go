// Package secrets keeps the secrets (keys, passwords) the logger and the
// journal replace wherever they appear, and lets a reload add more.
package secrets

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// MinLen is the shortest secret replaced: a shorter one would mangle
// unrelated words and protects little.
const MinLen = 4

// Set is a growing set of secrets and their replacement. Safe for
// concurrent use; the zero value holds none.
type Set struct {
	mask string
	mu   sync.Mutex
	cur  atomic.Pointer[list]
}

type list struct {
	secrets  []string
	replacer *strings.Replacer
}

// New returns a set replacing each of secrets (those of MinLen bytes or
// more) by mask.
func New(mask string, secrets ...string) *Set {
	s := &Set{mask: mask}
	s.Add(secrets...)
	return s
}

// Add makes the set replace secrets too, from now on.
func (s *Set) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []string
	if cur := s.cur.Load(); cur != nil {
		all = slices.Clone(cur.secrets)
	}
	for _, x := range secrets {
		if len(x) >= MinLen && !slices.Contains(all, x) {
			all = append(all, x)
		}
	}
	if len(all) == 0 {
		return
	}
	pairs := make([]string, 0, 2*len(all))
	for _, x := range all {
		pairs = append(pairs, x, s.mask)
	}
	s.cur.Store(&list{secrets: all, replacer: strings.NewReplacer(pairs...)})
}

// Replace returns text with every secret replaced; text itself, not a copy,
// when it holds none.
func (s *Set) Replace(text string) string {
	if s == nil {
		return text
	}
	cur := s.cur.Load()
	if cur == nil {
		return text
	}
	for _, x := range cur.secrets {
		if strings.Contains(text, x) {
			return cur.replacer.Replace(text)
		}
	}
	return text
}
