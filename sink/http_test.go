package sink_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
)

func TestHTTPSenderConformance(t *testing.T) {
	sinktest.TestSink(t, func(t *testing.T, endpoint string, keys sink.Keys) sink.Sink {
		cfg := fastConfig(endpoint)
		cfg.Keys = keys
		return newHTTP(t, cfg)
	})
}

func TestRequestCarriesKeysAndJSONHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		if r.Method != http.MethodPost || r.URL.Path != "/tracker/orders/paid" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
	}))
	defer srv.Close()
	if err := newHTTP(t, fastConfig(srv.URL+"/tracker/orders/paid")).Send(context.Background(), sinktest.Order("1")); err != nil {
		t.Fatal(err)
	}
	h := <-got
	for name, want := range map[string]string{
		"Refersion-Public-Key": "pub_test", "Refersion-Secret-Key": "sec_test",
		"Content-Type": "application/json", "User-Agent": "refersion-relay",
	} {
		if h.Get(name) != want {
			t.Errorf("%s: %q, want %q", name, h.Get(name), want)
		}
	}
}

func TestConnectionsAreKeptAlive(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	s := newHTTP(t, fastConfig(sb.Endpoint()))
	for i := range 20 {
		if err := s.Send(context.Background(), sinktest.Order(string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if st := sb.Stats(); st.Connections != 1 || st.Accepted != 20 {
		t.Fatalf("%d connections for 20 sequential orders (%+v)", st.Connections, st)
	}
}

func TestRequestTimeoutIsRetryable(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	sb.Inject(sandbox.Stall)
	cfg := fastConfig(sb.Endpoint())
	cfg.RequestTimeout = 100 * time.Millisecond
	err := newHTTP(t, cfg).Send(context.Background(), sinktest.Order("1"))
	if !failure.IsRetryable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled request: %v (%s)", err, failure.KindOf(err))
	}
}

func TestCallerCancellationIsNotRetryable(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	sb.Inject(sandbox.Stall)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- newHTTP(t, fastConfig(sb.Endpoint())).Send(ctx, sinktest.Order("1")) }()
	eventually(t, "the request reaches the sandbox", func() bool { return sb.Stats().Stalled == 1 })
	cancel()
	if err := <-done; failure.KindOf(err) != failure.KindCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v (%s)", err, failure.KindOf(err))
	}
}

func TestConnectionResetIsRetryable(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	sb.Inject(sandbox.Reset)
	err := newHTTP(t, fastConfig(sb.Endpoint())).Send(context.Background(), sinktest.Order("1"))
	if !failure.IsRetryable(err) {
		t.Fatalf("reset: %v (%s)", err, failure.KindOf(err))
	}
}

func TestRefusedConnectionIsRetryable(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{DownRefuse: true})
	sb.SetDown(true)
	err := newHTTP(t, fastConfig(sb.Endpoint())).Send(context.Background(), sinktest.Order("1"))
	if !failure.IsRetryable(err) {
		t.Fatalf("refused: %v (%s)", err, failure.KindOf(err))
	}
}

func TestResponseBodyReadIsBounded(t *testing.T) {
	const total = 64 << 20
	written := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		n, _ := w.Write([]byte(`{"error":"`))
		chunk := []byte(strings.Repeat("x", 64<<10))
		for n < total {
			m, err := w.Write(chunk)
			n += m
			if err != nil {
				break
			}
		}
		written <- n
	}))
	defer srv.Close()
	cfg := fastConfig(srv.URL)
	cfg.MaxResponseBody = 1 << 10
	err := newHTTP(t, cfg).Send(context.Background(), sinktest.Order("1"))
	var p *failure.Permanent
	if !errors.As(err, &p) {
		t.Fatalf("200 with a 64 MiB error body: %v", err)
	}
	if len(p.Body) > failure.MaxExcerpt+len("…") {
		t.Fatalf("error keeps %d bytes of body", len(p.Body))
	}
	if n := <-written; n >= total {
		t.Fatal("the whole 64 MiB body was read")
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	err := newHTTP(t, fastConfig(srv.URL)).Send(context.Background(), sinktest.Order("1"))
	var p *failure.Permanent
	if !errors.As(err, &p) || p.Status != http.StatusTemporaryRedirect || followed.Load() {
		t.Fatalf("redirect: %v, followed=%v", err, followed.Load())
	}
}

func TestUntrustedCertificateIsRefused(t *testing.T) {
	var reached atomic.Bool
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Store(true) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	err := newHTTP(t, fastConfig(srv.URL)).Send(context.Background(), sinktest.Order("1"))
	if err == nil || failure.IsPermanent(err) || reached.Load() || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("self-signed server: %v, reached=%v", err, reached.Load())
	}
}
