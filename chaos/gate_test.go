package chaos

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
)

// gate stands between the relay and the sandbox, on loopback, and picks
// requests out by order_id: it answers 422 to the orders in reject (as
// Refersion refusing their data), and holds the requests of the orders in
// hold, unanswered, until release. A held request whose client gave up is
// never forwarded. Everything else passes through unchanged.
type gate struct {
	srv   *http.Server
	addr  string
	proxy *httputil.ReverseProxy

	mu       sync.Mutex
	reject   map[string]bool
	hold     map[string]bool
	held     map[string]bool // order_ids whose request the gate holds now
	released chan struct{}   // closed by release
}

// startGate listens on a free loopback port and forwards to target.
func startGate(target string) (*gate, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &gate{addr: ln.Addr().String(), proxy: httputil.NewSingleHostReverseProxy(u), held: map[string]bool{}, released: make(chan struct{})}
	g.srv = &http.Server{Handler: g}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// URL is the gate's base URL: the sandbox's paths are served under it.
func (g *gate) URL() string { return "http://" + g.addr }

// Close stops the gate, releasing what it holds.
func (g *gate) Close() {
	g.release()
	_ = g.srv.Close()
}

// set makes the gate reject and hold these order_ids from now on; a new
// hold set starts held again until the next release.
func (g *gate) set(reject, hold map[string]bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reject, g.hold = reject, hold
	select {
	case <-g.released:
		g.released = make(chan struct{})
	default:
	}
}

// release answers every held request (by forwarding it) and holds no more.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold = nil
	select {
	case <-g.released:
	default:
		close(g.released)
	}
}

// holding returns how many requests the gate holds now.
func (g *gate) holding() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.held)
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var o struct {
		OrderID string `json:"order_id"`
	}
	_ = json.Unmarshal(body, &o)
	g.mu.Lock()
	reject, hold, released := g.reject[o.OrderID], g.hold[o.OrderID], g.released
	if hold {
		g.held[o.OrderID] = true
	}
	g.mu.Unlock()
	if reject {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, `{"errors":["Rejected by the chaos gate"]}`)
		return
	}
	if hold {
		select {
		case <-released:
		case <-r.Context().Done():
		}
		g.mu.Lock()
		delete(g.held, o.OrderID)
		g.mu.Unlock()
		if r.Context().Err() != nil { // the client gave up: it retries, and this one never arrives
			return
		}
	}
	g.proxy.ServeHTTP(w, r)
}
