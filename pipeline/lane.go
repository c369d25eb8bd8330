package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Lane is one Refersion account's destinations (Config.Lanes).
type Lane struct {
	Sink    Sink
	Cancels Cancels // nil: the account's cancels are dead-lettered
	// Healthy reports whether the account's webhook takes orders now (its
	// breaker closed); a poison order is told only then. nil: always.
	Healthy func() bool
}

// lane is one destination of one account: its paid orders (the webhook) or
// its cancels (the REST API). A lane in trouble (an outage, refused keys, a
// misconfigured URL) holds only its own work.
//
// A separate lane has its own gate: its orders that cannot be delivered are
// held (redone in the background, their worker slots given back, their
// offsets uncommitted) while every other lane keeps flowing, up to
// HeldLimit held orders in all, past which fetching pauses for everybody.
// When the relay has one destination only (one account, no cancels), the
// lane's gate is the pipeline's: trouble pauses fetching at once, since there
// is nobody else to keep flowing.
type lane struct {
	account  string // "" with one account
	dest     string // "orders" or "cancels"
	gate     *gate
	separate bool
	healthy  func() bool

	// lastDelivered is when the lane last had an order accepted (unix ns);
	// rejections counts its orders rejected since.
	lastDelivered atomic.Int64
	rejections    atomic.Int64
	held          atomic.Int64 // orders waiting on the lane's trouble
	done          atomic.Int64 // orders delivered, or cancels settled, through the lane
}

// LaneState is what one lane is doing, for metrics: an account's orders
// (the webhook) or cancels (the REST API).
type LaneState struct {
	Account string // "" with one account
	Lane    string // "orders" or "cancels"
	Open    bool   // not holding work
	Reason  string // why it holds work, when not Open
	Held    int64  // orders or cancels waiting on the lane's trouble
	Done    int64  // orders delivered, or cancels settled without a dead letter
}

// Lanes reports every lane of a relay with several destinations (several
// accounts, or refunds on); nil with one destination, whose state is the
// pipeline's own (Ready).
func (p *Pipeline) Lanes() []LaneState {
	var out []LaneState
	for _, l := range p.accounts.Load().lanes {
		if !l.separate {
			return nil
		}
		open, reason := l.gate.state()
		out = append(out, LaneState{Account: l.account, Lane: l.dest, Open: open, Reason: reason, Held: l.held.Load(), Done: l.done.Load()})
	}
	return out
}

// account is one account's lanes.
type account struct {
	name    string
	sink    Sink
	cancels Cancels
	orders  *lane
	api     *lane
}

// name is how logs and /readyz name the lane: "account brand-b cancels",
// or "cancels" with one account.
func (l *lane) name() string {
	if l.account == "" {
		return l.dest
	}
	return "account " + l.account + " " + l.dest
}

// cause prefixes a cause with the account, so that /readyz and the pause
// lines say whose trouble it is.
func (l *lane) cause(c string) string {
	if l.account == "" {
		return c
	}
	return "account " + l.account + ": " + c
}

// unauthorized is the cause a refusal of the lane's keys holds it under.
func (l *lane) unauthorized() string {
	if l.account == "" {
		return causeUnauthorized
	}
	return "refersion refused the account's keys (401/403): fix the keys ACCOUNTS_FILE names for it and restart"
}

// final reports whether the lane is stopped until a restart (refused keys,
// a misconfigured destination), and why.
func (l *lane) final() (bool, string) { return l.gate.final() }

// accountSet is the accounts in use; Reload replaces it whole.
type accountSet struct {
	byName map[string]*account
	lanes  []*lane // every account's, by name
}

// buildAccounts makes the lanes of cfg: cfg.Lanes, or the one account of s
// and cfg.Cancels.
func (p *Pipeline) buildAccounts(s Sink) {
	lanes := p.cfg.Lanes
	if len(lanes) == 0 {
		lanes = map[string]Lane{"": {Sink: s, Cancels: p.cfg.Cancels, Healthy: p.cfg.DestinationHealthy}}
	}
	separate := len(lanes) > 1
	for _, l := range lanes {
		separate = separate || l.Cancels != nil
	}
	p.accounts.Store(p.newAccountSet(lanes, separate))
}

func (p *Pipeline) newAccountSet(lanes map[string]Lane, separate bool) *accountSet {
	set := &accountSet{byName: map[string]*account{}}
	for name, l := range lanes {
		a := &account{name: name, sink: l.Sink, cancels: l.Cancels}
		a.orders = p.newLane(name, "orders", separate, l.Healthy)
		a.api = p.newLane(name, "cancels", separate, nil)
		set.byName[name] = a
		set.lanes = append(set.lanes, a.orders, a.api)
	}
	sort.Slice(set.lanes, func(i, j int) bool { return set.lanes[i].name() < set.lanes[j].name() })
	return set
}

// account is the account named name now, or was when it is gone: work
// routed to an account that a reload removed finishes on its old lanes.
func (p *Pipeline) account(name string, was *account) *account {
	if a, ok := p.accounts.Load().byName[name]; ok {
		return a
	}
	return was
}

// Reload replaces the accounts of a pipeline built with Config.Lanes: the
// router that picks each event's account, and every account's lanes (fresh
// breakers, keys, limits). Work in flight is not dropped: an order or
// cancel being redone moves to its account's new lane at its next try (so
// orders held by refused keys go once the keys are fixed), and one of an
// account that is gone finishes on its old lane.
func (p *Pipeline) Reload(router *mapping.Router, lanes map[string]Lane) error {
	if len(p.cfg.Lanes) == 0 {
		return errors.New("pipeline: only a pipeline of several accounts (Config.Lanes) reloads them")
	}
	if router == nil || len(lanes) == 0 {
		return errors.New("pipeline: a reload needs a router and lanes")
	}
	var errs []error
	for _, a := range router.Accounts() {
		if l, ok := lanes[a.Name]; !ok || l.Sink == nil {
			errs = append(errs, fmt.Errorf("pipeline: account %s is routed to but has no sink", a.Name))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	p.accounts.Store(p.newAccountSet(lanes, true))
	p.proc.SetAccounts(router)
	return nil
}

func (p *Pipeline) newLane(accountName, dest string, separate bool, healthy func() bool) *lane {
	l := &lane{account: accountName, dest: dest, separate: separate, healthy: healthy, gate: p.gate}
	if separate {
		log := p.log.With("lane", l.name())
		if accountName != "" {
			log = log.With("account", accountName)
		}
		pl := newPauseLog(log)
		pl.paused, pl.resumed, pl.still = "lane holding its work", "lane flowing again", "lane still holding its work"
		l.gate = newGate(pl.change)
	}
	return l
}

// laneReasons names the separate lanes in trouble, with their held work,
// for /readyz.
func (p *Pipeline) laneReasons() []string {
	var out []string
	for _, l := range p.accounts.Load().lanes {
		if !l.separate {
			continue
		}
		if open, reason := l.gate.state(); !open {
			out = append(out, fmt.Sprintf("%s holding %d: %s", l.name(), l.held.Load(), reason))
		}
	}
	return out
}

// worker is a dispatched job's hold on one of Concurrency worker slots. A
// job held by a lane in trouble parks (gives its slot back) while it waits,
// so that held work never starves the other lanes.
type worker struct {
	p      *Pipeline
	parked bool
	noSlot bool  // work of the fetch loop itself: never parks
	heldBy *lane // the lane that holds the job, counted in HeldLimit
}

// heldOn counts the job as held by l from now until it ends (unhold), so
// that HeldLimit does not flap with every try.
func (w *worker) heldOn(l *lane) {
	if w.heldBy == l {
		return
	}
	w.unhold()
	w.heldBy = l
	w.p.hold(l, 1)
}

func (w *worker) unhold() {
	if w.heldBy != nil {
		w.p.hold(w.heldBy, -1)
		w.heldBy = nil
	}
}

func (w *worker) park() {
	if w != nil && !w.noSlot && !w.parked {
		w.parked = true
		<-w.p.sem
	}
}

// unpark takes a slot again; false if ctx ended first (the job then ends
// parked).
func (w *worker) unpark(ctx context.Context) bool {
	if w == nil || !w.parked {
		return true
	}
	select {
	case w.p.sem <- struct{}{}:
		w.parked = false
		return true
	case <-ctx.Done():
		return false
	}
}

// waitFor waits until ch is closed, parked (holding no slot) if it must
// wait at all; false if ctx ended first.
func (w *worker) waitFor(ctx context.Context, ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
	}
	w.park()
	select {
	case <-ch:
		return w.unpark(ctx)
	case <-ctx.Done():
		return false
	}
}

// heldLimit pauses fetching for everybody while the lanes in trouble hold
// HeldLimit orders or more in all: held work keeps its message in memory
// and its offset uncommitted.
type heldLimit struct {
	mu      sync.Mutex
	total   int64
	release func()
}

// hold counts one more (delta 1) or one less (delta -1) held order of l.
func (p *Pipeline) hold(l *lane, delta int64) {
	l.held.Add(delta)
	h := &p.heldLimit
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total += delta
	over := h.total >= int64(p.cfg.HeldLimit)
	switch {
	case over && h.release == nil:
		h.release = p.gate.hold(fmt.Sprintf("lanes in trouble hold %d orders, PIPELINE_HELD_LIMIT: %s", p.cfg.HeldLimit,
			strings.Join(p.laneReasons(), "; ")))
	case !over && h.release != nil:
		h.release()
		h.release = nil
	}
}

// laneKey keys an order of an account in the relay's in-flight maps: the
// same order_id in two accounts is two orders.
func laneKey(accountName, orderID string) string {
	if accountName == "" {
		return orderID
	}
	return accountName + "\x00" + orderID
}
