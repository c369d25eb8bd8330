package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// drainLimit is how much of an over-long response body is discarded so that
// the connection can be reused; beyond it the connection is closed instead.
const drainLimit = 256 << 10

// newClient returns the client for the endpoint: keep-alive with
// cfg.MaxIdleConns idle connections, TLS 1.2+ with verification, no
// redirects. It never retries a request that reached the server; the
// Transport only redials a request it could not write at all.
func newClient(cfg Config) *http.Client {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: min(cfg.RequestTimeout, 10*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   cfg.MaxIdleConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.RequestTimeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// httpSender POSTs one order and classifies the answer. It never retries.
type httpSender struct {
	client   *http.Client
	endpoint string
	keys     Keys
	timeout  time.Duration
	maxBody  int64
	agent    string
	now      func() time.Time
	attempts attemptRecorder
	body     func(mapping.Order) ([]byte, error) // nil: the order as JSON
}

func newHTTPSender(cfg Config, client *http.Client, attempts attemptRecorder) *httpSender {
	return &httpSender{
		attempts: attempts,
		client:   client,
		endpoint: cfg.Endpoint,
		keys:     cfg.Keys,
		timeout:  cfg.RequestTimeout,
		maxBody:  cfg.MaxResponseBody,
		agent:    cfg.UserAgent,
		now:      time.Now,
	}
}

// withBody makes h post what body makes of each order instead of the order
// itself (the cancel sender posts a cancel request carried as an order).
func (h *httpSender) withBody(body func(mapping.Order) ([]byte, error)) *httpSender {
	h.body = body
	return h
}

// Send makes one request within the request timeout. The answer is
// classified by classify. A network error or the request timeout is
// *failure.Retryable; ctx ending first returns ctx's error, unclassified.
// A 2xx whose body cannot be read in full is judged on what was read: the
// status already says the order was taken. Every request is one span and
// one Attempt (see WithTracerProvider and WithAttemptObserver).
func (h *httpSender) Send(ctx context.Context, o mapping.Order) error {
	encode := h.body
	if encode == nil {
		encode = func(o mapping.Order) ([]byte, error) { return o.AppendJSON(make([]byte, 0, 512)) }
	}
	payload, err := encode(o)
	if err != nil {
		return &failure.Permanent{Reason: "order cannot be encoded", Err: err}
	}
	ctx, span := h.attempts.start(ctx, o)
	start := time.Now()
	status, err := h.post(ctx, o, payload)
	h.attempts.end(span, status, err, time.Since(start))
	return err
}

// post makes the request and classifies the answer; status is 0 when no
// response arrived.
func (h *httpSender) post(ctx context.Context, o mapping.Order, payload []byte) (int, error) {
	rctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, h.endpoint, bytes.NewReader(payload))
	if err != nil {
		return 0, &failure.Permanent{Reason: "request cannot be built", Err: err}
	}
	req.Header.Set("Refersion-Public-Key", h.keys.public)
	req.Header.Set("Refersion-Secret-Key", h.keys.secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", h.agent)

	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("post order %s: %w", o.OrderID, ctx.Err())
		}
		return 0, &failure.Retryable{Err: fmt.Errorf("post order %s: %w", o.OrderID, err)}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, h.maxBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	_ = resp.Body.Close()
	body = h.keys.redact(body)
	if err := classify(resp.StatusCode, resp.Header, body, h.now()); err != nil {
		return resp.StatusCode, fmt.Errorf("post order %s: %w", o.OrderID, err)
	}
	return resp.StatusCode, nil
}
