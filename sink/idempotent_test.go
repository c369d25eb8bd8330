package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
)

func TestSecondSendOfAnOrderIsSkipped(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	s := newSink(t, fastConfig(sb.Endpoint()))
	ctx := context.Background()
	if err := s.Send(ctx, sinktest.Order("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, sinktest.Order("1")); !errors.Is(err, failure.ErrAlreadySent) {
		t.Fatalf("second send: %v", err)
	}
	if st := sb.Stats(); st.Accepted != 1 || st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConcurrentSendsOfOneOrderDeliverItOnce(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Latency: 20 * time.Millisecond})
	s := newSink(t, fastConfig(sb.Endpoint()))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- s.Send(context.Background(), sinktest.Order("1")) })
	}
	wg.Wait()
	close(errs)
	delivered := 0
	for err := range errs {
		switch {
		case err == nil:
			delivered++
		case errors.Is(err, failure.ErrAlreadySent), failure.KindOf(err) == failure.KindClaimHeld:
		default:
			t.Errorf("racer: %v", err)
		}
	}
	if st := sb.Stats(); delivered != 1 || st.Accepted != 1 || st.Duplicates != 0 {
		t.Fatalf("%d delivered, stats %+v", delivered, st)
	}
}

func TestFailedOrderIsReleasedForALaterSend(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	cfg := fastConfig(sb.Endpoint())
	cfg.Retry.MaxAttempts = 1
	s := newSink(t, cfg)
	ctx := context.Background()
	sb.SetDown(true)
	if err := s.Send(ctx, sinktest.Order("1")); !failure.IsRetryable(err) {
		t.Fatalf("during the outage: %v", err)
	}
	sb.SetDown(false)
	if err := s.Send(ctx, sinktest.Order("1")); err != nil {
		t.Fatalf("redone after the outage: %v", err)
	}
}

// faultyStore is a store.Sent whose methods fail on demand; the rest is a memory.Sent.
type faultyStore struct {
	*memory.Sent
	claimErr, confirmErr, releaseErr error
	confirmFailures                  int // Confirm fails this many more times
	confirms                         int // Confirm calls
	released                         []store.Claim
}

func (f *faultyStore) Claim(ctx context.Context, id string, lease time.Duration) (store.Claim, error) {
	if f.claimErr != nil {
		return store.Claim{}, f.claimErr
	}
	return f.Sent.Claim(ctx, id, lease)
}

func (f *faultyStore) Confirm(ctx context.Context, c store.Claim) error {
	f.confirms++
	if f.confirmErr != nil {
		return f.confirmErr
	}
	if f.confirmFailures > 0 {
		f.confirmFailures--
		return errors.New("store briefly down")
	}
	return f.Sent.Confirm(ctx, c)
}

func (f *faultyStore) Release(ctx context.Context, c store.Claim) error {
	f.released = append(f.released, c)
	if f.releaseErr != nil {
		return f.releaseErr
	}
	return f.Sent.Release(ctx, c)
}

func newFaultyStore() *faultyStore {
	return &faultyStore{Sent: memory.NewSent(memory.Options{})}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestClaimFailureIsStoreUnavailableAndSendsNothing(t *testing.T) {
	fs := newFaultyStore()
	fs.claimErr = errors.New("connection refused")
	next := &scripted{}
	err := sink.NewIdempotent(next, fs, time.Minute, discard()).Send(context.Background(), sinktest.Order("1"))
	var su *failure.StoreUnavailable
	if failure.KindOf(err) != failure.KindStoreUnavailable || !errors.As(err, &su) || next.calls != 0 {
		t.Fatalf("%v (kind %s) after %d sends", err, failure.KindOf(err), next.calls)
	}
	if su.Store != "sent-order store" || !errors.Is(err, fs.claimErr) || failure.IsRetryable(err) {
		t.Fatalf("store %q, error %v", su.Store, err)
	}
	if !strings.Contains(err.Error(), "sent-order store unavailable") || strings.Contains(err.Error(), "refersion") {
		t.Fatalf("error text %q", err.Error())
	}
}

// A store that names itself (and its backend) keeps its name.
func TestClaimFailureKeepsTheStoresOwnName(t *testing.T) {
	fs := newFaultyStore()
	fs.claimErr = &failure.StoreUnavailable{Store: "redis sent-order store", Err: errors.New("connection refused")}
	err := sink.NewIdempotent(&scripted{}, fs, time.Minute, discard()).Send(context.Background(), sinktest.Order("1"))
	var su *failure.StoreUnavailable
	if !errors.As(err, &su) || su.Store != "redis sent-order store" || failure.KindOf(err) != failure.KindStoreUnavailable {
		t.Fatalf("got %v", err)
	}
}

func TestClaimCutShortByTheCallerIsCanceled(t *testing.T) {
	fs := newFaultyStore()
	fs.claimErr = errors.New("connection reset")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := sink.NewIdempotent(&scripted{}, fs, time.Minute, discard()).Send(ctx, sinktest.Order("1"))
	if failure.KindOf(err) != failure.KindCanceled || failure.IsStoreUnavailable(err) {
		t.Fatalf("got %v (kind %s)", err, failure.KindOf(err))
	}
}

func TestClaimHeldElsewhereIsClaimHeld(t *testing.T) {
	fs := newFaultyStore()
	_, _ = fs.Claim(context.Background(), "1", time.Minute)
	next := &scripted{}
	err := sink.NewIdempotent(next, fs, time.Minute, discard()).Send(context.Background(), sinktest.Order("1"))
	if !errors.Is(err, failure.ErrClaimHeld) || failure.KindOf(err) != failure.KindClaimHeld || next.calls != 0 {
		t.Fatalf("%v after %d sends", err, next.calls)
	}
	if failure.IsRetryable(err) || failure.IsSystemic(err) {
		t.Fatalf("%v is retryable or systemic", err)
	}
	if !errors.Is(err, sink.ErrClaimHeld) {
		t.Fatal("the deprecated sink.ErrClaimHeld no longer matches")
	}
}

func TestPermanentFailureReleasesTheClaim(t *testing.T) {
	fs := newFaultyStore()
	next := &scripted{errs: []error{&failure.Permanent{Status: 422}}}
	err := sink.NewIdempotent(next, fs, time.Minute, discard()).Send(context.Background(), sinktest.Order("1"))
	if !failure.IsPermanent(err) || len(fs.released) != 1 {
		t.Fatalf("%v, %d releases", err, len(fs.released))
	}
	if c, _ := fs.Claim(context.Background(), "1", time.Minute); c.Status != store.Claimed {
		t.Fatalf("after release: %v", c.Status)
	}
}

func TestFailedReleaseIsJoinedToTheSendError(t *testing.T) {
	fs := newFaultyStore()
	fs.releaseErr = errors.New("redis down")
	next := &scripted{errs: []error{&failure.Permanent{Status: 400}}}
	err := sink.NewIdempotent(next, fs, time.Minute, discard()).Send(context.Background(), sinktest.Order("1"))
	if failure.KindOf(err) != failure.KindPermanent || !strings.Contains(err.Error(), "redis down") {
		t.Fatalf("got %v", err)
	}
}

func TestFailedConfirmStillReportsDeliveredAndLogs(t *testing.T) {
	fs := newFaultyStore()
	fs.confirmErr = errors.New("redis down")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// The store stays down for the whole lease: Send gives up confirming.
	if err := sink.NewIdempotent(&scripted{}, fs, 100*time.Millisecond, log).Send(context.Background(), sinktest.Order("1")); err != nil {
		t.Fatalf("delivered order reported as %v", err)
	}
	if !strings.Contains(logs.String(), "not recorded") || !strings.Contains(logs.String(), "order_id=1") {
		t.Fatalf("log: %s", logs.String())
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Fatalf("%d error lines, want 1:\n%s", n, logs.String())
	}
}

// A shutdown must not wait out the claim's lease (minutes) while the store
// stays down: confirm gives up once the Send's ctx is done, and says so once.
func TestConfirmStopsPromptlyWhenTheCallerGivesUp(t *testing.T) {
	fs := newFaultyStore()
	fs.confirmErr = errors.New("redis down")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := sinkFunc(func(context.Context) error {
		time.AfterFunc(200*time.Millisecond, cancel) // while confirm waits between attempts
		return nil
	})
	start := time.Now()
	err := sink.NewIdempotent(next, fs, 190*time.Second, log).Send(ctx, sinktest.Order("1"))
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Send took %v after its ctx was canceled", took)
	}
	if err != nil {
		t.Fatalf("delivered order reported as %v", err)
	}
	if fs.confirms < 2 {
		t.Fatalf("confirm tried %d times before ctx ended, want retries", fs.confirms)
	}
	out := logs.String()
	if n := strings.Count(out, "level=ERROR"); n != 1 || !strings.Contains(out, "not recorded") ||
		!strings.Contains(out, "order_id=1") || !strings.Contains(out, "gave_up=stopping") {
		t.Fatalf("want one error line naming the order and why:\n%s", out)
	}
	if strings.Contains(out, sinktest.Order("1").Customer.Email) {
		t.Fatalf("the log shows the customer's email:\n%s", out)
	}
}

// A ctx that ended during the request still gets one Confirm attempt, but
// no retries.
func TestConfirmAfterTheCallerGaveUpIsTriedOnce(t *testing.T) {
	fs := newFaultyStore()
	fs.confirmErr = errors.New("redis down")
	ctx, cancel := context.WithCancel(context.Background())
	next := sinkFunc(func(context.Context) error { cancel(); return nil })
	start := time.Now()
	if err := sink.NewIdempotent(next, fs, time.Hour, discard()).Send(ctx, sinktest.Order("1")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); fs.confirms != 1 || took > time.Second {
		t.Fatalf("%d confirm attempts in %v, want 1 at once", fs.confirms, took)
	}
}

func TestConfirmIsRetriedWhileTheLeaseHolds(t *testing.T) {
	fs := newFaultyStore()
	fs.confirmFailures = 2
	if err := sink.NewIdempotent(&scripted{}, fs, time.Minute, discard()).Send(context.Background(), sinktest.Order("1")); err != nil {
		t.Fatal(err)
	}
	if c, _ := fs.Claim(context.Background(), "1", time.Minute); c.Status != store.AlreadySent {
		t.Fatalf("order not recorded after the store came back: %v", c.Status)
	}
}

func TestConfirmRunsAfterTheCallerGivesUp(t *testing.T) {
	fs := newFaultyStore()
	ctx, cancel := context.WithCancel(context.Background())
	next := sinkFunc(func(context.Context) error { cancel(); return nil })
	if err := sink.NewIdempotent(next, fs, time.Minute, discard()).Send(ctx, sinktest.Order("1")); err != nil {
		t.Fatal(err)
	}
	if c, _ := fs.Claim(context.Background(), "1", time.Minute); c.Status != store.AlreadySent {
		t.Fatalf("delivered order not recorded: %v", c.Status)
	}
}

func TestOrderWithoutIDIsPermanent(t *testing.T) {
	next := &scripted{}
	err := sink.NewIdempotent(next, newFaultyStore(), time.Minute, discard()).Send(context.Background(), sinktest.Order(""))
	if !failure.IsPermanent(err) || next.calls != 0 {
		t.Fatalf("%v after %d sends", err, next.calls)
	}
}

// watchedStore is a memory.Sent that reports the leases claims are taken
// for, counts renewals, and fails Confirm and Renew while down is set, or
// answers every Renew with ErrClaimLost while lose is set. Safe for
// concurrent use.
type watchedStore struct {
	*memory.Sent
	down, lose atomic.Bool
	leases     chan time.Duration
	renewals   atomic.Int32
	failed     sync.Map // order_id → struct{}: a Confirm of it failed
	nFailed    atomic.Int32
}

func newWatchedStore() *watchedStore {
	return &watchedStore{Sent: memory.NewSent(memory.Options{}), leases: make(chan time.Duration, 1000)}
}

func (w *watchedStore) Claim(ctx context.Context, id string, lease time.Duration) (store.Claim, error) {
	select {
	case w.leases <- lease:
	default:
	}
	return w.Sent.Claim(ctx, id, lease)
}

func (w *watchedStore) Confirm(ctx context.Context, c store.Claim) error {
	if w.down.Load() {
		if _, seen := w.failed.LoadOrStore(c.OrderID, struct{}{}); !seen {
			w.nFailed.Add(1)
		}
		return &failure.StoreUnavailable{Store: "redis sent-order store", Err: errors.New("connection refused")}
	}
	return w.Sent.Confirm(ctx, c)
}

func (w *watchedStore) Renew(ctx context.Context, c store.Claim, lease time.Duration) error {
	if w.lose.Load() {
		return store.ErrClaimLost
	}
	if w.down.Load() {
		return &failure.StoreUnavailable{Store: "redis sent-order store", Err: errors.New("connection refused")}
	}
	w.renewals.Add(1)
	return w.Sent.Renew(ctx, c, lease)
}

// The lease configured by default (the retry budget and more: minutes) is
// not what a claim is taken for: a replica killed mid-delivery would hold
// its orders that long. Claims are short and renewed.
func TestClaimsAreShortWhateverTheConfiguredLease(t *testing.T) {
	ws := newWatchedStore()
	if err := sink.NewIdempotent(&scripted{}, ws, 190*time.Second, discard()).Send(context.Background(), sinktest.Order("1")); err != nil {
		t.Fatal(err)
	}
	if lease := <-ws.leases; lease > sink.MaxClaimLease || lease > 30*time.Second {
		t.Fatalf("claim taken for %v, want at most %v", lease, sink.MaxClaimLease)
	}
}

// A POST that outlasts the lease keeps its claim: the owner renews it, so
// another sender sees it held until the order is confirmed.
func TestALongSendKeepsItsClaimByRenewingIt(t *testing.T) {
	ws := newWatchedStore()
	const lease = 60 * time.Millisecond
	inPost, finish := make(chan struct{}), make(chan struct{})
	next := sinkFunc(func(context.Context) error {
		close(inPost)
		<-finish
		return nil
	})
	done := make(chan error, 1)
	go func() {
		done <- sink.NewIdempotent(next, ws, lease, discard()).Send(context.Background(), sinktest.Order("1"))
	}()
	<-inPost
	// Renewals every lease/3: five of them span more than a whole lease.
	eventually(t, "five renewals", func() bool { return ws.renewals.Load() >= 5 })
	if c, err := ws.Sent.Claim(context.Background(), "1", time.Minute); err != nil || c.Status != store.HeldElsewhere {
		t.Fatalf("another sender's claim after more than a lease: %v, %v; want held elsewhere", c.Status, err)
	}
	close(finish)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c, _ := ws.Sent.Claim(context.Background(), "1", time.Minute); c.Status != store.AlreadySent {
		t.Fatalf("after the Send: %v", c.Status)
	}
}

// A claim lost mid-Send (the store unreachable for a whole lease, another
// sender took the order_id) stops this sender's attempts: the order is the
// other sender's now.
func TestAClaimLostMidSendStopsTheAttempts(t *testing.T) {
	ws := newWatchedStore()
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	next := sinkFunc(func(ctx context.Context) error {
		ws.lose.Store(true)
		select { // a retry loop waiting between attempts
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return &failure.Retryable{Status: 503}
		}
	})
	err := sink.NewIdempotent(next, ws, 30*time.Millisecond, log).Send(context.Background(), sinktest.Order("1"))
	if failure.KindOf(err) != failure.KindClaimHeld {
		t.Fatalf("Send after its claim was lost: %v (kind %s), want claim_held", err, failure.KindOf(err))
	}
	if out := logs.String(); strings.Count(out, "claim of an order lost") != 1 || !strings.Contains(out, "order_id=1") {
		t.Fatalf("want one line naming the order:\n%s", out)
	}
}

// A store outage while many delivered orders wait to be recorded is one
// line when it starts and one when it ends, not a line per order.
func TestAStoreOutageIsLoggedOncePerChangeNotPerOrder(t *testing.T) {
	ws := newWatchedStore()
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s := sink.NewIdempotent(&scripted{}, ws, time.Minute, log)
	const orders = 50
	ws.down.Store(true)
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() {
			if err := s.Send(context.Background(), sinktest.Order(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		})
	}
	eventually(t, "every order's Confirm failed once", func() bool { return ws.nFailed.Load() == orders })
	ws.down.Store(false)
	wg.Wait()
	out := logs.String()
	t.Logf("log:\n%s", out)
	if n := strings.Count(out, "\n"); n != 2 {
		t.Fatalf("%d lines for one outage under %d orders, want 2", n, orders)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "level=INFO") || !strings.Contains(out, "records delivered orders again") {
		t.Fatalf("want a warn line and an info line:\n%s", out)
	}
	for i := range orders {
		if c, _ := ws.Sent.Claim(context.Background(), fmt.Sprint(i), time.Minute); c.Status != store.AlreadySent {
			t.Fatalf("order %d not recorded after the outage: %v", i, c.Status)
		}
	}
}

// destination is a paid-order webhook on loopback that accepts every order
// and keeps the bodies it received.
type destination struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []mapping.Order
}

func startDestination(t *testing.T) *destination {
	t.Helper()
	d := &destination{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var o mapping.Order
		if err == nil {
			err = json.Unmarshal(b, &o)
		}
		if err != nil {
			http.Error(w, `{"error":"Bad request, no body"}`, http.StatusBadRequest)
			return
		}
		d.mu.Lock()
		d.bodies = append(d.bodies, o)
		d.mu.Unlock()
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(d.Close)
	return d
}

// received returns the orders the destination accepted.
func (d *destination) received() []mapping.Order {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]mapping.Order(nil), d.bodies...)
}

// newSinkOn builds the full chain for cfg on sent, closed when the test ends.
func newSinkOn(t *testing.T, cfg sink.Config, sent store.Sent) *sink.Refersion {
	t.Helper()
	s, err := sink.New(cfg, sent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// The total of sinktest.Order: 2×5.50 + 19.99 + 9.99 shipping + 0.57 tax − 2.25 discount.
const orderSummary = "total 39.30 USD, 3 items"

// An order read again with the content it was sent with (a redelivery
// after a crash, a replay that enriches it otherwise) is a plain skip; the
// delivery recorded its content with the order_id.
func TestOrderReadAgainWithItsContentIsSkipped(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dst := startDestination(t)
			sent, _ := open(t)
			s := newSinkOn(t, fastConfig(dst.URL), sent)
			first := sinktest.Order("1")
			if err := s.Send(ctx, first); err != nil {
				t.Fatal(err)
			}
			again := sinktest.Order("1")
			again.Customer = &mapping.Customer{Email: "someone.else@example.com", IPAddress: "198.51.100.9"}
			again.Source = mapping.Source{MessageID: "redelivered"}
			again.Items[0].Price = "5.5"
			again.Items[0], again.Items[1] = again.Items[1], again.Items[0]
			err := s.Send(ctx, again)
			if !errors.Is(err, failure.ErrAlreadySent) || failure.KindOf(err) != failure.KindAlreadySent {
				t.Fatalf("the same order again: %v (kind %s), want already_sent", err, failure.KindOf(err))
			}
			if got := dst.received(); len(got) != 1 {
				t.Fatalf("the destination received %d orders, want 1", len(got))
			}
			c, err := sent.Claim(ctx, "1", time.Minute)
			if err != nil || c.Status != store.AlreadySent || c.Fingerprint != mapping.Fingerprint(first) || c.Summary != orderSummary {
				t.Fatalf("recorded %+v, %v; want already sent with the order's fingerprint and %q", c, err, orderSummary)
			}
		})
	}
}

// An order_id read again with other content is not skipped silently: it
// is a conflict naming both totals, nothing is sent, and the content on
// record stays the one delivered.
func TestOrderReadAgainWithOtherContentIsAConflict(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dst := startDestination(t)
			sent, _ := open(t)
			s := newSinkOn(t, fastConfig(dst.URL), sent)
			first := sinktest.Order("1")
			if err := s.Send(ctx, first); err != nil {
				t.Fatal(err)
			}
			changed := sinktest.Order("1")
			changed.Items[1].Price = "24.99"
			err := s.Send(ctx, changed)
			var c *failure.Conflict
			if failure.KindOf(err) != failure.KindConflict || !errors.As(err, &c) {
				t.Fatalf("a changed order: %v (kind %s), want conflict", err, failure.KindOf(err))
			}
			if c.OrderID != "1" || c.Sent != orderSummary || c.Now != "total 44.30 USD, 3 items" {
				t.Fatalf("conflict %+v", c)
			}
			if failure.IsPermanent(err) || failure.IsRetryable(err) || failure.IsSystemic(err) || errors.Is(err, failure.ErrAlreadySent) {
				t.Fatalf("a conflict reads as another kind: %v", err)
			}
			text := err.Error()
			if !strings.Contains(text, "39.30 USD") || !strings.Contains(text, "44.30 USD") || strings.Contains(text, first.Customer.Email) {
				t.Fatalf("error text %q: want both totals and no customer data", text)
			}
			if got := dst.received(); len(got) != 1 || got[0].Items[1].Price != "19.99" {
				t.Fatalf("the destination received %+v, want the first order only", got)
			}
			// The record is the delivered order's: it is still a skip, the
			// changed one still a conflict.
			if err := s.Send(ctx, first); !errors.Is(err, failure.ErrAlreadySent) {
				t.Fatalf("the delivered order again after a conflict: %v", err)
			}
			if err := s.Send(ctx, changed); failure.KindOf(err) != failure.KindConflict {
				t.Fatalf("the changed order again: %v", err)
			}
		})
	}
}

// An order_id recorded without content (by an earlier version, which kept
// none) is a plain skip whatever the order says: unknown is no conflict.
func TestOrderRecordedWithoutContentIsSkipped(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dst := startDestination(t)
			sent, _ := open(t)
			c, err := sent.Claim(ctx, "1", time.Minute)
			if err == nil {
				err = sent.Confirm(ctx, c) // no Fingerprint, no Summary
			}
			if err != nil {
				t.Fatal(err)
			}
			s := newSinkOn(t, fastConfig(dst.URL), sent)
			changed := sinktest.Order("1")
			changed.Items[1].Price = "24.99"
			for _, o := range []mapping.Order{sinktest.Order("1"), changed} {
				if err := s.Send(ctx, o); !errors.Is(err, failure.ErrAlreadySent) || failure.KindOf(err) != failure.KindAlreadySent {
					t.Fatalf("an order_id recorded without content: %v (kind %s), want already_sent", err, failure.KindOf(err))
				}
			}
			if got := dst.received(); len(got) != 0 {
				t.Fatalf("the destination received %d orders, want none", len(got))
			}
		})
	}
}
