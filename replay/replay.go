package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/store"
)

// Filter selects records. Empty fields select everything. Reasons and
// Statuses select among dead-letter records only: with either set, plain
// events are not selected.
type Filter struct {
	Reasons  []string
	Statuses []int
	OrderIDs []string
	// Since and Until bound a record's time (inclusive); zero is unbounded.
	Since, Until time.Time
}

// Match reports whether f selects r, by reason, status and time (the
// order-id condition needs the mapped order and applies later).
func (f Filter) Match(r Record) bool {
	if (len(f.Reasons) > 0 || len(f.Statuses) > 0) && r.DeadLetter == nil {
		return false
	}
	if len(f.Reasons) > 0 && !slices.Contains(f.Reasons, r.DeadLetter.Reason) {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, r.DeadLetter.Status) {
		return false
	}
	if !r.Time.IsZero() && ((!f.Since.IsZero() && r.Time.Before(f.Since)) || (!f.Until.IsZero() && r.Time.After(f.Until))) {
		return false
	}
	return true
}

// MatchDeadLetter reports whether f selects a dead-letter record as it is,
// before any mapping: Match, and the order-id list against the order_id the
// record carries (for --export).
func (f Filter) MatchDeadLetter(r Record) bool {
	if r.DeadLetter == nil || !f.Match(r) {
		return false
	}
	return len(f.OrderIDs) == 0 || slices.Contains(f.OrderIDs, r.DeadLetter.OrderID)
}

// Summary counts what a replay did. Every event of the records read ends in
// exactly one of Ignored, Identities, NotSelected, Delivered, Skipped,
// Repeated, StillInvalid or FailedAgain (Events is their sum once a replay
// has finished); Selected is the sum of the last five.
type Summary struct {
	Records      int64 `json:"records"`           // records read from the source
	Events       int64 `json:"events"`            // events in the records the filter selected
	Selected     int64 `json:"selected"`          // events to replay: orders, and events still rejected
	Delivered    int64 `json:"delivered"`         // accepted by Refersion now
	Skipped      int64 `json:"skipped"`           // already sent before: not sent again
	Repeated     int64 `json:"repeated"`          // an order_id seen earlier in this replay
	StillInvalid int64 `json:"still_invalid"`     // the current mapping still rejects them (invalid, malformed)
	FailedAgain  int64 `json:"failed_again"`      // delivery failed again
	Requeued     int64 `json:"requeued"`          // failed-again orders written back to the dead-letter topic
	Identities   int64 `json:"identities"`        // identify, alias and delete events applied
	Ignored      int64 `json:"ignored"`           // dropped events (page, other tracks, ...), not replayed
	NotSelected  int64 `json:"not_selected"`      // events the order-id filter left out
	Credited     int64 `json:"credited_by_click"` // orders credited to a captured click (click capture)
}

// Settled is the number of events with an outcome; it equals Events once a
// replay has finished without error.
func (s Summary) Settled() int64 {
	return s.Ignored + s.Identities + s.NotSelected + s.Delivered + s.Skipped + s.Repeated + s.StillInvalid + s.FailedAgain
}

// OK reports whether every selected order ended delivered or skipped.
func (s Summary) OK() bool { return s.StillInvalid == 0 && s.FailedAgain == 0 }

// Replayer replays records through the event processor (the mapping and the
// identity store, exactly as the running relay decides events) and the sink.
type Replayer struct {
	Mapper     *mapping.Mapper
	Sink       sink.Sink
	Sent       store.Sent // for --dry-run's already-sent check
	Identities store.Identities
	// DeadLetters receives orders that fail again, with Attempts raised; nil
	// leaves them only in the summary.
	DeadLetters deadletter.Writer
	DryRun      bool      // send nothing; describe each order on Out
	Out         io.Writer // dry-run lines: {"send": payload} | {"skip": ...} | {"invalid": ...}
	Concurrency int       // deliveries at once (default 16)
	// DrainTimeout is how long deliveries in flight may finish after ctx
	// ends (default 30s).
	DrainTimeout time.Duration
	// Processor tunes the event processor as the relay's is (click
	// capture), so that a replay decides events as the live stream did.
	Processor processor.Options
	// Cancels sends refunds and cancellations; nil counts them failed
	// again (they need the REST API destination).
	Cancels Cancels
	// ClaimWait is how long an order that another sender (a running relay)
	// is delivering is waited for before it counts as failed again (default
	// 4m, past the default claim lease).
	ClaimWait time.Duration

	sum    Summary
	proc   *processor.Processor
	seen   sync.Map // order_id → struct{}: each order once per replay
	outMu  sync.Mutex
	abort  atomic.Pointer[error]
	filter Filter
	work   context.Context // deliveries' context: outlives Run's ctx by DrainTimeout
}

// ErrUnauthorized stops a replay: Refersion refused the keys.
var ErrUnauthorized = errors.New("refersion refused the keys (401/403): fix REFERSION_PUBLIC_KEY/REFERSION_SECRET_KEY (or REFERSION_API_KEY) and run again")

// Run replays what src yields and f selects. progress, if not nil, is called
// after each record with the running summary. It returns the summary and an
// error for a source that fails, ErrUnauthorized, or ctx ending; orders
// already handled stay handled, so running it again finishes the rest.
func (r *Replayer) Run(ctx context.Context, src Source, f Filter, progress func(Summary)) (Summary, error) {
	r.filter = f
	proc, err := processor.New(r.Mapper, r.Identities, r.Processor)
	if err != nil {
		return Summary{}, err
	}
	r.proc = proc
	n := r.Concurrency
	if n <= 0 {
		n = 16
	}
	// Deliveries already started finish even when ctx ends (an interrupt):
	// cutting a request short could leave an order accepted by Refersion but
	// not recorded as sent, and the next replay would send it again. They
	// get DrainTimeout to do so.
	drain := r.DrainTimeout
	if drain <= 0 {
		drain = 30 * time.Second
	}
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(drain, cancelWork) })
	defer stopDrain()
	r.work = work
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	err = src.Each(ctx, func(rec Record) error {
		atomic.AddInt64(&r.sum.Records, 1)
		if e := r.abort.Load(); e != nil {
			return *e
		}
		if r.filter.Match(rec) {
			if err := r.record(ctx, rec, sem, &wg); err != nil {
				return err
			}
		}
		if progress != nil {
			progress(r.Snapshot())
		}
		return nil
	})
	wg.Wait()
	if e := r.abort.Load(); e != nil && err == nil {
		err = *e
	}
	if err == nil {
		err = ctx.Err()
	}
	return r.Snapshot(), err
}

// Snapshot returns the running summary.
func (r *Replayer) Snapshot() Summary {
	s := &r.sum
	return Summary{
		Records: atomic.LoadInt64(&s.Records), Selected: atomic.LoadInt64(&s.Selected), Delivered: atomic.LoadInt64(&s.Delivered),
		Skipped: atomic.LoadInt64(&s.Skipped), Repeated: atomic.LoadInt64(&s.Repeated), StillInvalid: atomic.LoadInt64(&s.StillInvalid),
		FailedAgain: atomic.LoadInt64(&s.FailedAgain), Requeued: atomic.LoadInt64(&s.Requeued),
		Identities: atomic.LoadInt64(&s.Identities), Ignored: atomic.LoadInt64(&s.Ignored),
		Events: atomic.LoadInt64(&s.Events), NotSelected: atomic.LoadInt64(&s.NotSelected), Credited: atomic.LoadInt64(&s.Credited),
	}
}

// record settles the outcome of each event of one record; deliveries run on
// workers.
func (r *Replayer) record(ctx context.Context, rec Record, sem chan struct{}, wg *sync.WaitGroup) error {
	var orderErr error
	err := r.proc.Process(ctx, rec.Event, func(out processor.Outcome) bool {
		atomic.AddInt64(&r.sum.Events, 1)
		switch out.Kind {
		case processor.Dropped:
			atomic.AddInt64(&r.sum.Ignored, 1)
			return true
		case processor.IdentityChanged:
			atomic.AddInt64(&r.sum.Identities, 1)
			return true
		}
		if len(r.filter.OrderIDs) > 0 && !slices.Contains(r.filter.OrderIDs, out.OrderID) {
			atomic.AddInt64(&r.sum.NotSelected, 1)
			return true
		}
		atomic.AddInt64(&r.sum.Selected, 1)
		if out.Kind == processor.Cancel {
			orderErr = r.cancel(ctx, rec, out, sem, wg)
			return orderErr == nil
		}
		if out.Kind != processor.Order {
			atomic.AddInt64(&r.sum.StillInvalid, 1)
			r.describe("invalid", invalidLine{Reason: out.Reason, OrderID: out.OrderID, MessageID: out.MessageID, Problems: out.Problems})
			return true
		}
		if out.Credit == mapping.Credited {
			atomic.AddInt64(&r.sum.Credited, 1)
		}
		orderErr = r.order(ctx, rec, out, sem, wg)
		return orderErr == nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("identity store: %w", err)
	}
	return orderErr
}

// Cancels sends refunds and cancellations; sink.Canceller satisfies it.
type Cancels interface {
	Cancel(ctx context.Context, c mapping.Cancel) (sink.CancelResult, error)
}

// cancel replays a refund or cancellation: a dry run describes it, else a
// worker sends it. Its outcome counts as delivered (cancelled, clamped,
// nothing left, no conversion), skipped (already done), or failed again
// (its order still not delivered, an amount-only refund, a failure).
func (r *Replayer) cancel(ctx context.Context, rec Record, out processor.Outcome, sem chan struct{}, wg *sync.WaitGroup) error {
	if r.DryRun || r.Cancels == nil {
		if r.Cancels == nil && !r.DryRun {
			atomic.AddInt64(&r.sum.FailedAgain, 1)
			return nil
		}
		atomic.AddInt64(&r.sum.Delivered, 1) // would be sent
		r.describe("cancel", out.Cancel)
		return nil
	}
	return spawn(ctx, sem, wg, func() {
		res, err := r.cancelWaiting(r.work, out.Cancel)
		switch {
		case err == nil && res.Outcome == sink.AlreadyDone:
			atomic.AddInt64(&r.sum.Skipped, 1)
		case err == nil:
			atomic.AddInt64(&r.sum.Delivered, 1)
		case failure.KindOf(err) == failure.KindUnauthorized:
			e := ErrUnauthorized
			r.abort.CompareAndSwap(nil, &e)
		case failure.KindOf(err) == failure.KindCanceled:
		default:
			atomic.AddInt64(&r.sum.FailedAgain, 1)
			if r.DeadLetters != nil {
				r.requeueCancel(r.work, rec, out, err)
			}
		}
	})
}

// cancelWaiting is sendWaiting for a cancel: an order (or another cancel
// of it) in flight is waited for, up to ClaimWait.
func (r *Replayer) cancelWaiting(ctx context.Context, c mapping.Cancel) (res sink.CancelResult, err error) {
	err = r.waitClaim(ctx, func() error {
		res, err = r.Cancels.Cancel(ctx, c)
		return err
	})
	return res, err
}

// requeueCancel writes a refund that failed again back to the dead-letter
// topic with its reason.
func (r *Replayer) requeueCancel(ctx context.Context, rec Record, out processor.Outcome, cause error) {
	reason := deadletter.ReasonUndelivered
	switch {
	case errors.Is(cause, sink.ErrOrderNotDelivered):
		reason = deadletter.ReasonRefundBeforeOrder
	case errors.Is(cause, sink.ErrAmountOnly):
		reason = deadletter.ReasonAmountOnly
	}
	d := deadletter.Record{Value: out.Event, Reason: reason, Attempts: 1, FirstFailure: time.Now(),
		OrderID: out.OrderID, MessageID: out.MessageID, Problems: []mapping.Problem{{Reason: cause.Error()}}}
	if old := rec.DeadLetter; old != nil {
		d.Key, d.Attempts, d.FirstFailure = old.Key, old.Attempts+1, old.FirstFailure
		d.Topic, d.Partition, d.Offset, d.Index = old.Topic, old.Partition, old.Offset, old.Index
	}
	if err := r.DeadLetters.Write(ctx, d); err == nil {
		atomic.AddInt64(&r.sum.Requeued, 1)
	}
}

// invalidLine is the dry-run description of an event still rejected.
type invalidLine struct {
	Reason    string            `json:"reason"`
	OrderID   string            `json:"order_id,omitempty"`
	MessageID string            `json:"message_id,omitempty"`
	Problems  []mapping.Problem `json:"problems"`
}

func (r *Replayer) order(ctx context.Context, rec Record, out processor.Outcome, sem chan struct{}, wg *sync.WaitGroup) error {
	o := out.Order
	if rec.DeadLetter != nil {
		o.Customer = fillCustomer(o.Customer, rec.DeadLetter.Customer)
	}
	if _, dup := r.seen.LoadOrStore(store.AccountKey(o.Source.Account, o.OrderID), struct{}{}); dup {
		atomic.AddInt64(&r.sum.Repeated, 1)
		return nil
	}
	if r.DryRun {
		return r.dryRun(ctx, o)
	}
	return spawn(ctx, sem, wg, func() { r.deliver(r.work, rec, out.Event, o) })
}

// spawn runs job on a worker once sem has room; it returns ctx's error if ctx
// ends first. wg counts the workers.
func spawn(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup, job func()) error {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	wg.Add(1)
	go func() {
		defer func() { <-sem; wg.Done() }()
		job()
	}()
	return nil
}

func (r *Replayer) deliver(ctx context.Context, rec Record, ev []byte, o mapping.Order) {
	err := r.sendWaiting(ctx, o)
	switch failure.KindOf(err) {
	case failure.KindDelivered:
		atomic.AddInt64(&r.sum.Delivered, 1)
		return
	case failure.KindAlreadySent:
		atomic.AddInt64(&r.sum.Skipped, 1)
		return
	case failure.KindUnauthorized:
		e := ErrUnauthorized
		r.abort.CompareAndSwap(nil, &e)
		return
	case failure.KindCanceled:
		return
	}
	atomic.AddInt64(&r.sum.FailedAgain, 1)
	if r.DeadLetters != nil {
		r.requeue(ctx, rec, ev, o, err)
	}
}

// sendWaiting sends o; while another sender (a running relay) holds its
// claim, it waits and tries again, up to ClaimWait: the other sender either
// delivers it (then it is skipped here) or lets it go (then it is sent).
func (r *Replayer) sendWaiting(ctx context.Context, o mapping.Order) error {
	return r.waitClaim(ctx, func() error { return r.Sink.Send(ctx, o) })
}

// waitClaim calls try until it returns anything but failure.ErrClaimHeld,
// or ClaimWait (default 4m) has passed, or ctx ends.
func (r *Replayer) waitClaim(ctx context.Context, try func() error) error {
	limit := r.ClaimWait
	if limit <= 0 {
		limit = 4 * time.Minute
	}
	deadline := time.Now().Add(limit)
	wait := 50 * time.Millisecond
	for {
		err := try()
		if failure.KindOf(err) != failure.KindClaimHeld || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// requeue writes an order that failed again back to the dead-letter topic,
// its attempt count raised and its first failure kept.
func (r *Replayer) requeue(ctx context.Context, rec Record, ev []byte, o mapping.Order, cause error) {
	d := deadletter.Record{Value: ev, Reason: deadletter.ReasonUndelivered, Attempts: 1, FirstFailure: time.Now(),
		OrderID: o.OrderID, MessageID: o.Source.MessageID, Account: o.Source.Account}
	if old := rec.DeadLetter; old != nil {
		d.Key, d.Attempts, d.FirstFailure = old.Key, old.Attempts+1, old.FirstFailure
		d.Topic, d.Partition, d.Offset, d.Index = old.Topic, old.Partition, old.Offset, old.Index
	}
	var perm *failure.Permanent
	var conflict *failure.Conflict
	switch {
	case errors.As(cause, &perm):
		d.Reason, d.Status, d.Body = deadletter.ReasonRejected, perm.Status, perm.Body
	case errors.As(cause, &conflict):
		d.Reason, d.Problems = deadletter.ReasonConflict, []mapping.Problem{{Field: "order_id", Reason: conflict.Error()}}
	default:
		d.Problems = []mapping.Problem{{Reason: cause.Error()}}
	}
	if err := r.DeadLetters.Write(ctx, d); err == nil {
		atomic.AddInt64(&r.sum.Requeued, 1)
	}
}

func (r *Replayer) dryRun(ctx context.Context, o mapping.Order) error {
	sent := store.SentOf(r.Sent, o.Source.Account)
	c, err := sent.Claim(ctx, o.OrderID, time.Second)
	if err != nil {
		return fmt.Errorf("sent-order store: %w", err)
	}
	switch c.Status {
	case store.AlreadySent:
		if mapping.FingerprintsDiffer(c.Fingerprint, mapping.Fingerprint(o)) {
			atomic.AddInt64(&r.sum.FailedAgain, 1)
			r.describe("conflict", map[string]string{"order_id": o.OrderID, "sent": c.Summary, "now": mapping.Summary(o)})
			return nil
		}
		atomic.AddInt64(&r.sum.Skipped, 1)
		r.describe("skip", map[string]string{"order_id": o.OrderID, "reason": "already sent"})
		return nil
	case store.Claimed:
		if err := sent.Release(ctx, c); err != nil {
			return fmt.Errorf("sent-order store: %w", err)
		}
	}
	atomic.AddInt64(&r.sum.Delivered, 1) // would be delivered
	r.describe("send", o)
	return nil
}

// describe writes one dry-run line.
func (r *Replayer) describe(key string, v any) {
	if r.Out == nil || !r.DryRun {
		return
	}
	b, err := json.Marshal(map[string]any{key: v})
	if err != nil {
		return
	}
	r.outMu.Lock()
	defer r.outMu.Unlock()
	_, _ = r.Out.Write(append(b, '\n'))
}

// fillCustomer completes c, what the event and today's identity store say,
// with what the first attempt knew (the dead-letter record's customer): the
// event comes first, then the store, then the record.
func fillCustomer(c, recorded *mapping.Customer) *mapping.Customer {
	if recorded == nil {
		return c
	}
	if c == nil {
		cp := *recorded
		return &cp
	}
	out := *c
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&out.Email, recorded.Email}, {&out.FirstName, recorded.FirstName}, {&out.LastName, recorded.LastName}, {&out.IPAddress, recorded.IPAddress},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	return &out
}
