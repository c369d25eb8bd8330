package sandbox

import (
	"encoding/json"
	"maps"
	"sync"
)

// Stats counts what the sandbox did since Start or the last Reset. A
// paid-order request adds to Requests and to exactly one outcome counter once
// its fate is decided; one whose client leaves during Latency adds to neither.
type Stats struct {
	Requests     int  `json:"requests"`     // paid-order requests decided
	Accepted     int  `json:"accepted"`     // answered 200; includes Duplicates
	Duplicates   int  `json:"duplicates"`   // accepted with an order_id accepted before under the same public key
	Rejected     int  `json:"rejected"`     // answered 400, 404, 413 or 422, or 200 with an error body
	Unauthorized int  `json:"unauthorized"` // answered 401
	Failed       int  `json:"failed"`       // injected 503
	Throttled    int  `json:"throttled"`    // injected 429
	Resets       int  `json:"resets"`       // connections dropped mid-response
	Stalled      int  `json:"stalled"`      // held unanswered until the client gave up
	DownRefused  int  `json:"down_refused"` // answered 503 or dropped while down
	Connections  int  `json:"connections"`  // TCP connections accepted (keep-alive reuse shows here)
	Down         bool `json:"down"`         // whether the sandbox is down now
	// Cancels are cancel requests accepted by the REST API's
	// /v2/conversion/cancel; CancelRejected those answered otherwise.
	Cancels        int `json:"cancels"`
	CancelRejected int `json:"cancel_rejected"`
	// OrdersByKey and CancelsByKey split Accepted and Cancels by the public
	// key that sent them; a key with nothing accepted is absent. Stats
	// returns copies of the maps.
	OrdersByKey  map[string]int `json:"orders_by_key,omitempty"`
	CancelsByKey map[string]int `json:"cancels_by_key,omitempty"`
}

// Order is one accepted paid order and the public key that sent it.
type Order struct {
	PublicKey string          `json:"public_key"`
	Payload   json.RawMessage `json:"payload"` // the body as sent
}

// outcome is the counter one paid-order request adds to.
type outcome int

const (
	outRejected outcome = iota
	outUnauthorized
	outFailed
	outThrottled
	outReset
	outStalled
	outDown
)

// ledger holds the accepted orders and the counters. Safe for concurrent use.
type ledger struct {
	mu        sync.Mutex
	stats     Stats
	seen      map[[2]string]struct{} // (public key, order_id) accepted
	orders    []Order                // accepted orders, a ring of at most maxOrders
	head      int                    // index of the oldest payload once the ring is full
	maxOrders int
}

func newLedger(maxOrders int) *ledger {
	if maxOrders == 0 {
		maxOrders = DefaultMaxOrders
	}
	return &ledger{seen: map[[2]string]struct{}{}, maxOrders: maxOrders}
}

// accept records a payload accepted under publicKey and reports whether its
// order_id was accepted under that key before.
func (l *ledger) accept(publicKey, orderID string, payload []byte) (duplicate bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Requests++
	l.stats.Accepted++
	if l.stats.OrdersByKey == nil {
		l.stats.OrdersByKey = map[string]int{}
	}
	l.stats.OrdersByKey[publicKey]++
	id := [2]string{publicKey, orderID}
	if _, duplicate = l.seen[id]; duplicate {
		l.stats.Duplicates++
	}
	l.seen[id] = struct{}{}
	o := Order{PublicKey: publicKey, Payload: json.RawMessage(payload)}
	if len(l.orders) < l.maxOrders {
		l.orders = append(l.orders, o)
	} else {
		l.orders[l.head] = o
		l.head = (l.head + 1) % l.maxOrders
	}
	return duplicate
}

// count records a request that was not accepted.
func (l *ledger) count(o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Requests++
	switch o {
	case outRejected:
		l.stats.Rejected++
	case outUnauthorized:
		l.stats.Unauthorized++
	case outFailed:
		l.stats.Failed++
	case outThrottled:
		l.stats.Throttled++
	case outReset:
		l.stats.Resets++
	case outStalled:
		l.stats.Stalled++
	case outDown:
		l.stats.DownRefused++
	}
}

// countCancel counts one cancel request's answer; publicKey is the key that
// sent an accepted one.
func (l *ledger) countCancel(accepted bool, publicKey string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if accepted {
		l.stats.Cancels++
		if l.stats.CancelsByKey == nil {
			l.stats.CancelsByKey = map[string]int{}
		}
		l.stats.CancelsByKey[publicKey]++
	} else {
		l.stats.CancelRejected++
	}
}

func (l *ledger) connected() {
	l.mu.Lock()
	l.stats.Connections++
	l.mu.Unlock()
}

func (l *ledger) snapshot() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	st.OrdersByKey = maps.Clone(st.OrdersByKey)
	st.CancelsByKey = maps.Clone(st.CancelsByKey)
	return st
}

func (l *ledger) accepted() []Order {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Order, 0, len(l.orders))
	out = append(out, l.orders[l.head:]...)
	return append(out, l.orders[:l.head]...)
}

func (l *ledger) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats = Stats{}
	l.seen = map[[2]string]struct{}{}
	l.orders = nil
	l.head = 0
}
