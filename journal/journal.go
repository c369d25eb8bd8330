// Package journal keeps the relay's recent outcomes in memory: every order
// delivered or skipped, every cancel, every dead letter, with Refersion's
// status and answer, attempts, latency and trace id. It is a ring buffer of a
// fixed number of entries, cheap enough to be always on (one short critical
// section per outcome, see the benchmarks), that `refersion-relay tail` and
// the console follow over the admin server (see Stream and Follow).
//
// Personal data is masked when an entry is added, as the logger masks it:
// email addresses become [email] unless PII is set. Keys never reach the
// journal (a settlement carries none), and every configured secret is
// replaced by **** in whatever text an entry holds, Refersion's answer
// included.
package journal

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/refersion-relay/refersion-relay/pipeline"
)

// Entry is one outcome.
type Entry struct {
	Seq  uint64    `json:"seq"` // 1 for the first entry of this process, then one more for each
	Time time.Time `json:"time"`
	// OrderID is the order's id; empty for an event that has none (a
	// malformed event, an identify naming nobody).
	OrderID string `json:"order_id,omitempty"`
	// Account is the order's Refersion account (ACCOUNTS_FILE); empty with one.
	Account string `json:"account,omitempty"`
	// Outcome is what became of it: delivered, skipped (already sent), a
	// cancel's outcome (cancelled, clamped, nothing_to_cancel,
	// no_conversion, already_done), a dead-letter reason (invalid,
	// malformed, identity, rejected, panic, undelivered,
	// refund_before_order, amount_only_refund), unauthorized or stopped
	// (consuming stopped on it), or replayed (a replay from the console).
	Outcome      string  `json:"outcome"`
	DeadLettered bool    `json:"dead_lettered,omitempty"`
	Status       int     `json:"status,omitempty"`   // Refersion's HTTP status, when known
	Attempts     int     `json:"attempts,omitempty"` // sends by the pipeline, or the dead letter's attempts
	LatencyMS    float64 `json:"latency_ms"`
	Body         string  `json:"body,omitempty"`   // Refersion's answer, cut short
	Reason       string  `json:"reason,omitempty"` // the first problem, or why consuming stopped
	TraceID      string  `json:"trace_id,omitempty"`
	Partition    int     `json:"partition"`
	Offset       int64   `json:"offset"`
}

// Options shape a Journal.
type Options struct {
	// Size is how many entries are kept; the oldest is overwritten first
	// (default DefaultSize).
	Size int
	// BodyMax is how many bytes of Refersion's answer an entry keeps
	// (default 256).
	BodyMax int
	// PII keeps email addresses as they are (LOG_PII).
	PII bool
	// Secrets are replaced by **** wherever they appear (the keys, the
	// admin token); values shorter than 4 characters are ignored.
	Secrets []string
}

// DefaultSize is the default number of entries a journal keeps: about 2 MB
// of delivered orders, at most about 6 MB if every entry held a body, taken
// as entries come.
const DefaultSize = 10000

// Journal is a bounded, concurrency-safe log of recent outcomes. The zero
// value is not usable; call New.
type Journal struct {
	mask    Masker
	bodyMax int
	epoch   string // names this process's sequence, so a follower sees a restart

	mu   sync.Mutex
	ring []Entry // entry Seq at (Seq-1) % size; grows to size as entries come
	size uint64
	next uint64 // Seq of the next entry
	subs map[chan struct{}]struct{}
}

// New returns an empty journal.
func New(o Options) *Journal {
	if o.Size <= 0 {
		o.Size = DefaultSize
	}
	if o.BodyMax <= 0 {
		o.BodyMax = 256
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Journal{mask: NewMasker(o.PII, o.Secrets), bodyMax: o.BodyMax, epoch: hex.EncodeToString(b[:]),
		size: uint64(o.Size), next: 1, subs: map[chan struct{}]struct{}{}}
}

// AddSecrets makes the journal mask secrets too, from now on (keys a
// reload of ACCOUNTS_FILE read).
func (j *Journal) AddSecrets(secrets ...string) { j.mask.AddSecrets(secrets...) }

// Masker is the masking the journal applies to what it keeps.
func (j *Journal) Masker() Masker { return j.mask }

// Epoch names this journal's sequence: a follower that reconnects to a
// journal of another epoch (the relay restarted) starts over.
func (j *Journal) Epoch() string { return j.epoch }

// Size is how many entries the journal keeps.
func (j *Journal) Size() int { return int(j.size) }

// Settled adds a pipeline settlement; it makes *Journal a pipeline.Journal.
func (j *Journal) Settled(s pipeline.Settlement) {
	j.Add(Entry{Time: s.Time, OrderID: s.OrderID, Account: s.Account, Outcome: s.Outcome, DeadLettered: s.DeadLettered, Status: s.Status,
		Attempts: s.Attempts, LatencyMS: float64(s.Latency.Microseconds()) / 1000, Body: s.Body, Reason: s.Reason,
		TraceID: s.TraceID, Partition: s.Partition, Offset: s.Offset})
}

// Add masks e, gives it the next sequence number (returned) and keeps it,
// overwriting the oldest entry when the journal is full. A zero Time is now.
func (j *Journal) Add(e Entry) uint64 {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	// Copies, masked: the strings may point into a whole Kafka message,
	// which the ring must not keep alive.
	e.OrderID = j.mask.Text(strings.Clone(e.OrderID))
	e.Body = j.mask.Text(cut(strings.TrimSpace(e.Body), j.bodyMax))
	e.Reason = j.mask.Text(cut(strings.TrimSpace(e.Reason), j.bodyMax))
	j.mu.Lock()
	e.Seq = j.next
	j.next++
	if i := (e.Seq - 1) % j.size; i < uint64(len(j.ring)) {
		j.ring[i] = e
	} else { // still filling: the ring grows as used, to its size at most
		if len(j.ring) == cap(j.ring) {
			grown := make([]Entry, len(j.ring), min(j.size, max(64, 2*uint64(cap(j.ring)))))
			copy(grown, j.ring)
			j.ring = grown
		}
		j.ring = append(j.ring, e)
	}
	for c := range j.subs {
		select {
		case c <- struct{}{}:
		default: // already signalled
		}
	}
	j.mu.Unlock()
	return e.Seq
}

// cut returns a copy of s of at most n bytes, cut at a rune boundary, with
// "…" when something was left out.
func cut(s string, n int) string {
	if len(s) <= n {
		return strings.Clone(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…" // the concatenation copies
}

// Next is the sequence number the next entry will get: every entry so far
// has a smaller one.
func (j *Journal) Next() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next
}

// first is the oldest sequence number still kept; j.mu is held.
func (j *Journal) first() uint64 {
	if j.next > j.size {
		return j.next - j.size
	}
	return 1
}

// After returns up to max entries with a sequence number above seq, oldest
// first, and how many entries after seq were already overwritten (a
// follower that fell that far behind lost them).
func (j *Journal) After(seq uint64, max int) (entries []Entry, lost uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	from := seq + 1
	if first := j.first(); from < first {
		lost = first - from
		from = first
	}
	for s := from; s < j.next && len(entries) < max; s++ {
		entries = append(entries, j.ring[(s-1)%j.size])
	}
	return entries, lost
}

// Last returns the newest n entries f matches (every entry kept for n < 0),
// oldest first, and the sequence number the next entry will get.
func (j *Journal) Last(n int, f Filter) (entries []Entry, next uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	first := j.first()
	for s := j.next - 1; s >= first && s > 0 && (n < 0 || len(entries) < n); s-- {
		if e := j.ring[(s-1)%j.size]; f.Match(e) {
			entries = append(entries, e)
		}
	}
	slices.Reverse(entries)
	return entries, j.next
}

// Find returns every entry kept for orderID, oldest first.
func (j *Journal) Find(orderID string) []Entry {
	entries, _ := j.Last(-1, Filter{OrderIDs: []string{orderID}})
	return entries
}

// Subscribe returns a channel that receives a signal after entries are
// added (one signal may stand for several), and the function that ends the
// subscription.
func (j *Journal) Subscribe() (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	j.mu.Lock()
	j.subs[c] = struct{}{}
	j.mu.Unlock()
	return c, func() {
		j.mu.Lock()
		delete(j.subs, c)
		j.mu.Unlock()
	}
}

// Filter selects entries: by order_id and by outcome. An empty list selects
// every value.
type Filter struct {
	OrderIDs []string
	Outcomes []string
}

// Match reports whether f selects e. The outcome "dead_lettered" selects
// every dead letter, whatever its reason.
func (f Filter) Match(e Entry) bool {
	if len(f.OrderIDs) > 0 && !slices.Contains(f.OrderIDs, e.OrderID) {
		return false
	}
	if len(f.Outcomes) > 0 && !slices.Contains(f.Outcomes, e.Outcome) && !(e.DeadLettered && slices.Contains(f.Outcomes, "dead_lettered")) {
		return false
	}
	return true
}
