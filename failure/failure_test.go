package failure_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
)

func TestKindOfFindsWrappedKinds(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want failure.Kind
	}{
		{"nil", nil, failure.KindDelivered},
		{"already sent", fmt.Errorf("order 1: %w", failure.ErrAlreadySent), failure.KindAlreadySent},
		{"conflict", fmt.Errorf("send: %w", &failure.Conflict{OrderID: "1", Sent: "total 5.00 USD, 1 item", Now: "total 6.00 USD, 1 item"}), failure.KindConflict},
		{"unauthorized", fmt.Errorf("send: %w", &failure.Unauthorized{Status: 401}), failure.KindUnauthorized},
		{"breaker open", fmt.Errorf("send: %w", failure.ErrBreakerOpen), failure.KindBreakerOpen},
		{"permanent", fmt.Errorf("send: %w", &failure.Permanent{Status: 422}), failure.KindPermanent},
		{"retryable", fmt.Errorf("send: %w", &failure.Retryable{Status: 503}), failure.KindRetryable},
		{"timeout is retryable", &failure.Retryable{Err: context.DeadlineExceeded}, failure.KindRetryable},
		{"canceled", fmt.Errorf("send: %w", context.Canceled), failure.KindCanceled},
		{"unknown", errors.New("boom"), failure.KindUnknown},
		{"permanent joined with a store error", errors.Join(&failure.Permanent{Status: 400}, errors.New("release")), failure.KindPermanent},
		{"claim held", fmt.Errorf("order 1: %w", failure.ErrClaimHeld), failure.KindClaimHeld},
		{"claim held wrapped as retryable, as sinks did", &failure.Retryable{Err: failure.ErrClaimHeld}, failure.KindClaimHeld},
		{"store unavailable", fmt.Errorf("order 1: %w", &failure.StoreUnavailable{Store: "redis sent-order store", Err: errors.New("connection refused")}), failure.KindStoreUnavailable},
		{"store unavailable because the caller canceled", &failure.StoreUnavailable{Store: "identity store", Err: fmt.Errorf("lookup: %w", context.Canceled)}, failure.KindCanceled},
		{"store unavailable after the caller's deadline", &failure.StoreUnavailable{Store: "identity store", Err: context.DeadlineExceeded}, failure.KindCanceled},
		{"cancellation joined with a failed release", errors.Join(context.Canceled, &failure.StoreUnavailable{Store: "sent-order store"}), failure.KindCanceled},
		{"retryable joined with a failed release", errors.Join(&failure.Retryable{Status: 503}, &failure.StoreUnavailable{Store: "sent-order store"}), failure.KindRetryable},
		{"unauthorized joined with a failed release", errors.Join(&failure.Unauthorized{Status: 401}, &failure.StoreUnavailable{Store: "sent-order store"}), failure.KindUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := failure.KindOf(c.err); got != c.want {
				t.Fatalf("KindOf(%v) = %s, want %s", c.err, got, c.want)
			}
		})
	}
}

// The names are metric labels: changing one breaks dashboards and alerts.
func TestKindStringIsStable(t *testing.T) {
	want := map[failure.Kind]string{
		failure.KindDelivered:        "delivered",
		failure.KindAlreadySent:      "already_sent",
		failure.KindConflict:         "conflict",
		failure.KindUnauthorized:     "unauthorized",
		failure.KindBreakerOpen:      "breaker_open",
		failure.KindPermanent:        "permanent",
		failure.KindClaimHeld:        "claim_held",
		failure.KindRetryable:        "retryable",
		failure.KindCanceled:         "canceled",
		failure.KindStoreUnavailable: "store_unavailable",
		failure.KindUnknown:          "unknown",
	}
	for k := failure.KindDelivered; k <= failure.KindUnknown; k++ {
		if got := k.String(); got != want[k] {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want[k])
		}
	}
	if got := failure.Kind(99).String(); got != "unknown" {
		t.Fatalf("got %q", got)
	}
}

func TestIsSystemicMeansPause(t *testing.T) {
	for _, err := range []error{&failure.Unauthorized{Status: 403}, failure.ErrBreakerOpen, &failure.StoreUnavailable{Store: "redis sent-order store"}} {
		if !failure.IsSystemic(err) {
			t.Errorf("IsSystemic(%v) = false", err)
		}
	}
	for _, err := range []error{&failure.Permanent{}, &failure.Retryable{}, nil, failure.ErrClaimHeld, &failure.Conflict{OrderID: "1"},
		&failure.StoreUnavailable{Store: "identity store", Err: context.Canceled}} {
		if failure.IsSystemic(err) {
			t.Errorf("IsSystemic(%v) = true", err)
		}
	}
}

func TestRetryAfterReadsTheChain(t *testing.T) {
	err := fmt.Errorf("gave up: %w", &failure.Retryable{Status: 429, RetryAfter: 3 * time.Second})
	if d, ok := failure.RetryAfter(err); !ok || d != 3*time.Second {
		t.Fatalf("RetryAfter = %v, %v", d, ok)
	}
	if _, ok := failure.RetryAfter(&failure.Retryable{Status: 503}); ok {
		t.Fatal("RetryAfter without a hint reported one")
	}
}

func TestErrorTextCarriesStatusReasonAndBody(t *testing.T) {
	err := &failure.Permanent{Status: 400, Reason: "rejected", Body: `{"error":"Missing required field cart_id"}`}
	for _, want := range []string{"permanent", "400", "rejected", "cart_id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err.Error(), want)
		}
	}
}

func TestExcerptIsBoundedOnARuneBoundary(t *testing.T) {
	body := []byte(strings.Repeat("é", failure.MaxExcerpt))
	got := failure.Excerpt(body)
	if len(got) > failure.MaxExcerpt+len("…") {
		t.Fatalf("excerpt is %d bytes", len(got))
	}
	if !strings.HasSuffix(got, "…") || strings.ContainsRune(got, '\uFFFD') {
		t.Fatalf("excerpt cut badly: %q", got[len(got)-8:])
	}
	if got := failure.Excerpt([]byte("short")); got != "short" {
		t.Fatalf("short body changed: %q", got)
	}
}

func TestStoreUnavailableNamesTheStoreAndUnwraps(t *testing.T) {
	cause := errors.New("dial unix /run/redis.sock: connect: connection refused")
	err := fmt.Errorf("order 7: %w", &failure.StoreUnavailable{Store: "redis sent-order store", Err: cause})
	if want := "order 7: redis sent-order store unavailable: dial unix /run/redis.sock: connect: connection refused"; err.Error() != want {
		t.Fatalf("got %q, want %q", err.Error(), want)
	}
	if !errors.Is(err, cause) {
		t.Fatal("the cause is not found through Unwrap")
	}
	var su *failure.StoreUnavailable
	if !errors.As(err, &su) || su.Store != "redis sent-order store" {
		t.Fatalf("errors.As: %v", su)
	}
	if got := (&failure.StoreUnavailable{}).Error(); got != "state store unavailable" {
		t.Fatalf("zero value: %q", got)
	}
	if strings.Contains(err.Error(), "refersion") {
		t.Fatalf("a store outage reads as the destination's: %q", err.Error())
	}
}

// A conflict's text names the order and both versions' totals, and nothing
// else: the log line and the dead-letter record carry it.
func TestConflictNamesTheOrderAndBothTotals(t *testing.T) {
	err := fmt.Errorf("order 1001: %w", &failure.Conflict{OrderID: "1001", Sent: "total 104.50 USD, 3 items", Now: "total 99.00 USD, 3 items"})
	for _, want := range []string{"1001", "conflict", "sent total 104.50 USD, 3 items", "now total 99.00 USD, 3 items"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err.Error(), want)
		}
	}
	var c *failure.Conflict
	if !errors.As(err, &c) || c.OrderID != "1001" || !failure.IsConflict(err) {
		t.Fatalf("errors.As: %+v", c)
	}
	if failure.IsPermanent(err) || failure.IsRetryable(err) || errors.Is(err, failure.ErrAlreadySent) {
		t.Fatalf("a conflict reads as another kind: %v", err)
	}
	if got := (&failure.Conflict{OrderID: "7"}).Error(); !strings.Contains(got, "sent (unknown), now (unknown)") {
		t.Fatalf("without summaries: %q", got)
	}
}
