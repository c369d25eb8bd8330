// Package memory holds the in-process state backend: an identity store and
// a sent-order store, each bounded by entries and bytes, whose entries
// expire. What they hold is lost when the process ends, and one process
// cannot share it with another: use them for tests, demos and a single
// replica that can afford to forget. Both are safe for concurrent use and
// never fail.
package memory

import (
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Options bounds a store. Zero fields take the defaults.
type Options struct {
	// MaxEntries is the most entries kept: people (an id with traits or
	// links) or order_ids. Default 1,000,000; MaxBytes is the bound that
	// binds first, unless entries are tiny.
	MaxEntries int
	// MaxBytes is the most memory charged to entries: their text, and what
	// each costs in the Go heap beyond it (measured: about 290 bytes per
	// sent order_id with the fingerprint and summary of its content, 180
	// without, about 330 per id of a person), so that the heap the store
	// holds stays within about a tenth of it. The entries written longest
	// ago are evicted first. Default DefaultMaxBytes (16 MiB: about 57,000
	// sent order_ids, or 48,000 ids of people).
	MaxBytes int
	// TTL is how long an entry lives after its last write. Default 90 days
	// for identities, 30 days for sent order_ids.
	TTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultMaxEntries  = 1_000_000
	DefaultMaxBytes    = 16 << 20
	DefaultIdentityTTL = 90 * 24 * time.Hour
	DefaultSentTTL     = 30 * 24 * time.Hour
)

func (o Options) withDefaults(ttl time.Duration) Options {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.TTL <= 0 {
		o.TTL = ttl
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// traitsSize is the bytes of t's text.
func traitsSize(t mapping.Traits) int {
	return len(t.Email) + len(t.FirstName) + len(t.LastName) + len(t.Click.AffiliateID)
}
