// Package sinktest holds the conformance suite every sink.Sink must pass,
// and test orders. The suites of the store contracts (store.Sent among them)
// are in store/storetest.
package sinktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
)

// NewSink builds the Sink under test for one destination. It is called once
// per subtest, so state such as a circuit breaker starts fresh. Retry waits
// should be near zero.
type NewSink func(t *testing.T, endpoint string, keys sink.Keys) sink.Sink

// TestSink checks the sink.Sink contract against sandboxes on loopback:
// delivery of the exact payload, the class of every kind of refusal, respect
// for a cancelled context, and concurrent use.
func TestSink(t *testing.T, newSink NewSink) {
	keys := sink.NewKeys("pub_conformance", "sec_conformance")
	setup := func(t *testing.T, opts sandbox.Options) (*sandbox.Server, sink.Sink) {
		t.Helper()
		opts.Keys = "pub_conformance.sec_conformance"
		sb := sandbox.New(opts)
		if err := sb.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sb.Close() })
		return sb, newSink(t, sb.Endpoint(), keys)
	}
	ctx := context.Background()

	t.Run("DeliversTheExactPayload", func(t *testing.T) {
		sb, s := setup(t, sandbox.Options{})
		o := Order("c-1")
		if err := s.Send(ctx, o); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := sb.Orders()
		want, _ := json.Marshal(o)
		if len(got) != 1 || !sameJSON(got[0], want) {
			t.Fatalf("sandbox received %s, want %s", got, want)
		}
	})
	t.Run("MalformedOrderIsPermanent", func(t *testing.T) {
		sb, s := setup(t, sandbox.Options{})
		wantStatus(t, s.Send(ctx, Malformed("c-2")), failure.KindPermanent, 422)
		if st := sb.Stats(); st.Accepted != 0 {
			t.Fatalf("malformed order accepted: %+v", st)
		}
	})
	t.Run("MissingFieldIsPermanentAndNamed", func(t *testing.T) {
		_, s := setup(t, sandbox.Options{})
		err := s.Send(ctx, MissingCart("c-3"))
		wantStatus(t, err, failure.KindPermanent, 400)
		var p *failure.Permanent
		if !errors.As(err, &p) || !strings.Contains(p.Body, "cart_id") {
			t.Fatalf("body excerpt does not name the field: %v", err)
		}
	})
	t.Run("WrongKeysAreUnauthorized", func(t *testing.T) {
		sb := sandbox.New(sandbox.Options{Keys: "other.keys"})
		if err := sb.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sb.Close() })
		wantStatus(t, newSink(t, sb.Endpoint(), keys).Send(ctx, Order("c-4")), failure.KindUnauthorized, 401)
	})
	t.Run("OutageIsNeverPermanent", func(t *testing.T) {
		sb, s := setup(t, sandbox.Options{})
		sb.SetDown(true)
		err := s.Send(ctx, Order("c-5"))
		if k := failure.KindOf(err); k != failure.KindRetryable && k != failure.KindBreakerOpen {
			t.Fatalf("Send during an outage: %v (%s), want retryable or breaker_open", err, k)
		}
	})
	t.Run("CancelledContextSendsNothing", func(t *testing.T) {
		sb, s := setup(t, sandbox.Options{})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := s.Send(cctx, Order("c-6"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Send with a cancelled context: %v", err)
		}
		if st := sb.Stats(); st.Accepted != 0 {
			t.Fatalf("order accepted despite cancellation: %+v", st)
		}
	})
	t.Run("ConcurrentSendsAllDeliverOnce", func(t *testing.T) {
		sb, s := setup(t, sandbox.Options{})
		const n = 32
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if err := s.Send(ctx, Order(fmt.Sprintf("c-7-%d", i))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if st := sb.Stats(); st.Accepted != n || st.Duplicates != 0 {
			t.Fatalf("stats %+v, want %d accepted once each", st, n)
		}
	})
}

// wantStatus fails unless err has kind k and, for HTTP outcomes, status.
func wantStatus(t *testing.T, err error, k failure.Kind, status int) {
	t.Helper()
	if got := failure.KindOf(err); got != k {
		t.Fatalf("error %v is %s, want %s", err, got, k)
	}
	var p *failure.Permanent
	var u *failure.Unauthorized
	switch {
	case errors.As(err, &p) && p.Status != status:
		t.Fatalf("status %d, want %d", p.Status, status)
	case errors.As(err, &u) && u.Status != status:
		t.Fatalf("status %d, want %d", u.Status, status)
	}
}

// sameJSON compares two JSON texts byte for byte after compaction, so that
// numbers keep their exact decimal text.
func sameJSON(a, b []byte) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}
