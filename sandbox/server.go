// Package sandbox is a local stand-in for Refersion's paid-order webhook, for
// tests, demos and staging environments. It validates payloads on its own
// (not with this project's mapping code), records accepted orders, counts
// repeated order_ids, and injects faults on demand: latency, 503s, 429s with
// Retry-After, dropped connections, outages and blanket rejection.
//
// It accepts one key pair or several (Options.KeyPairs), each a Refersion
// account of its own: orders and cancels are recorded with the public key
// that sent them, and an order_id is one order per account.
//
// Endpoints:
//
//	POST   /tracker/orders/paid   the webhook
//	POST   /v2/conversion/cancel  the REST API's cancel
//	GET    /_sandbox/stats        Stats as JSON
//	GET    /_sandbox/orders       the accepted payloads, oldest first, each with "public_key" added;
//	                              ?public_key=P only that account's; ?last=N the N newest
//	GET    /_sandbox/cancels      the accepted cancels, oldest first; ?public_key=P only that account's
//	DELETE /_sandbox/orders       forget orders and zero the stats
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// PaidOrderPath is the webhook's path, as on inbound-webhooks.refersion.com.
const PaidOrderPath = "/tracker/orders/paid"

// Server is a running sandbox. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	pairs    []keyPair // the accepted credentials, one per account
	ledger   *ledger
	cancels  *cancels
	faults   *faults
	log      *slog.Logger
	srv      *http.Server
	quit     chan struct{} // closed when the server stops
	stopOnce sync.Once
	serving  sync.WaitGroup

	mu      sync.Mutex
	addr    string                // fixed by Start
	ln      net.Listener          // nil while refusing connections
	conns   map[net.Conn]struct{} // open connections, dropped when going down
	down    bool
	timers  []*time.Timer
	started bool
	fail    map[string]bool // order_ids answered 500 (SetFailOrders)
}

// SetFailOrders makes the sandbox answer 500 to these order_ids from now
// on, every time, as Options.FailOrders does from the start.
func (s *Server) SetFailOrders(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = map[string]bool{}
	for _, id := range ids {
		s.fail[id] = true
	}
}

func (s *Server) failing(orderID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail[orderID]
}

// New returns a sandbox configured by opts; Start makes it listen.
func New(opts Options) *Server {
	s := &Server{
		opts:    opts,
		ledger:  newLedger(opts.MaxOrders),
		cancels: newCancels(),
		faults:  newFaults(opts),
		log:     opts.Logger,
		quit:    make(chan struct{}),
		conns:   map[net.Conn]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.pairs = opts.pairs()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ConnState: s.track}
	return s
}

// Start validates the options, listens on Options.Addr and serves in the
// background. It returns once the address accepts connections.
func (s *Server) Start() error {
	if err := s.opts.Validate(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("sandbox: already started")
	}
	ln, err := net.Listen("tcp", s.opts.addr())
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	s.started, s.addr, s.ln = true, ln.Addr().String(), ln
	s.serve(ln)
	if s.opts.DownFor > 0 {
		s.timers = append(s.timers,
			time.AfterFunc(s.opts.DownAfter, func() { s.SetDown(true) }),
			time.AfterFunc(s.opts.DownAfter+s.opts.DownFor, func() { s.SetDown(false) }))
	}
	return nil
}

// URL is the base URL, http://HOST:PORT. Valid after Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

// Endpoint is the webhook's URL, URL()+PaidOrderPath.
func (s *Server) Endpoint() string { return s.URL() + PaidOrderPath }

// APIURL is the REST API's base URL, URL()+"/v2" (cancels are under it).
func (s *Server) APIURL() string { return s.URL() + "/v2" }

// SetDown starts or ends an outage now, whatever DownAfter and DownFor say.
// With DownRefuse, going down closes the listener and every open connection,
// and coming back up listens again on the same address.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down == down || s.stopped() {
		return
	}
	s.down = down
	s.log.Info("sandbox availability", "down", down)
	if !s.opts.DownRefuse || !s.started {
		return
	}
	if down {
		_ = s.ln.Close()
		s.ln = nil
		for c := range s.conns {
			_ = c.Close()
		}
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.log.Error("sandbox cannot listen again; staying down", "addr", s.addr, "err", err)
		s.down = true
		return
	}
	s.ln = ln
	s.serve(ln)
}

// Inject queues faults for the next paid-order requests, one each, in order.
func (s *Server) Inject(faults ...Fault) { s.faults.inject(faults...) }

// Stats returns the counters now.
func (s *Server) Stats() Stats {
	st := s.ledger.snapshot()
	st.Down = s.isDown()
	return st
}

// Orders returns the accepted payloads, as sent, oldest first (at most
// MaxOrders), whatever key pair sent them.
func (s *Server) Orders() []json.RawMessage {
	all := s.ledger.accepted()
	out := make([]json.RawMessage, len(all))
	for i, o := range all {
		out[i] = o.Payload
	}
	return out
}

// AcceptedOrders returns the accepted orders with the public key that sent
// each, oldest first (at most MaxOrders).
func (s *Server) AcceptedOrders() []Order { return s.ledger.accepted() }

// OrdersFor returns the payloads accepted under publicKey, oldest first
// (among the MaxOrders kept).
func (s *Server) OrdersFor(publicKey string) []json.RawMessage {
	var out []json.RawMessage
	for _, o := range s.ledger.accepted() {
		if o.PublicKey == publicKey {
			out = append(out, o.Payload)
		}
	}
	return out
}

// Reset forgets accepted orders and zeroes the counters.
func (s *Server) Reset() { s.ledger.reset() }

// Shutdown stops accepting, ends pending latency and stalls, and waits for
// in-flight requests or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	err := s.srv.Shutdown(ctx)
	s.serving.Wait()
	return err
}

// Close stops the server at once, dropping open connections.
func (s *Server) Close() error {
	s.stop()
	err := s.srv.Close()
	s.serving.Wait()
	return err
}

func (s *Server) stop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		close(s.quit)
		for _, t := range s.timers {
			t.Stop()
		}
	})
}

// stopped reports whether stop ran. Callers hold s.mu or need no ordering.
func (s *Server) stopped() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

func (s *Server) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// serve runs srv.Serve on ln in the background. Called with s.mu held.
func (s *Server) serve(ln net.Listener) {
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = s.srv.Serve(ln)
	}()
}

// track keeps the set of open connections, for dropping them when going down.
func (s *Server) track(c net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		s.ledger.connected()
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
	case http.StateHijacked, http.StateClosed:
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}
}
