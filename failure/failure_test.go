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
		{"unauthorized", fmt.Errorf("send: %w", &failure.Unauthorized{Status: 401}), failure.KindUnauthorized},
		{"breaker open", fmt.Errorf("send: %w", failure.ErrBreakerOpen), failure.KindBreakerOpen},
		{"permanent", fmt.Errorf("send: %w", &failure.Permanent{Status: 422}), failure.KindPermanent},
		{"retryable", fmt.Errorf("send: %w", &failure.Retryable{Status: 503}), failure.KindRetryable},
		{"timeout is retryable", &failure.Retryable{Err: context.DeadlineExceeded}, failure.KindRetryable},
		{"canceled", fmt.Errorf("send: %w", context.Canceled), failure.KindCanceled},
		{"unknown", errors.New("boom"), failure.KindUnknown},
		{"permanent joined with a store error", errors.Join(&failure.Permanent{Status: 400}, errors.New("release")), failure.KindPermanent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := failure.KindOf(c.err); got != c.want {
				t.Fatalf("KindOf(%v) = %s, want %s", c.err, got, c.want)
			}
		})
	}
}

func TestKindStringIsStable(t *testing.T) {
	if got := failure.KindBreakerOpen.String(); got != "breaker_open" {
		t.Fatalf("got %q", got)
	}
	if got := failure.Kind(99).String(); got != "unknown" {
		t.Fatalf("got %q", got)
	}
}

func TestIsSystemicMeansPause(t *testing.T) {
	for _, err := range []error{&failure.Unauthorized{Status: 403}, failure.ErrBreakerOpen} {
		if !failure.IsSystemic(err) {
			t.Errorf("IsSystemic(%v) = false", err)
		}
	}
	for _, err := range []error{&failure.Permanent{}, &failure.Retryable{}, nil} {
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
