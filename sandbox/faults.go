package sandbox

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Fault is a misbehaviour of one paid-order request. Faults queued with
// Server.Inject apply to the next requests in order, before any drawn at random.
type Fault int

const (
	Fail      Fault = iota + 1 // 503 Service Unavailable; nothing recorded
	Throttle                   // 429 Too Many Requests with Retry-After; nothing recorded
	Reset                      // the connection drops mid-response; nothing recorded
	Stall                      // no answer until the client gives up; nothing recorded
	ErrorBody                  // 200 whose body carries {"error": ...}; nothing recorded
)

// faults decides each request's fault. Safe for concurrent use; the random
// draws follow the order requests reach it.
type faults struct {
	mu                    sync.Mutex
	queue                 []Fault
	rng                   *rand.Rand
	reset, fail, throttle float64
}

func newFaults(o Options) *faults {
	return &faults{
		rng:      rand.New(rand.NewPCG(o.Seed, 0x5eed)),
		reset:    o.ResetRate,
		fail:     o.FailRate,
		throttle: o.ThrottleRate,
	}
}

func (f *faults) inject(fs ...Fault) {
	f.mu.Lock()
	f.queue = append(f.queue, fs...)
	f.mu.Unlock()
}

// next returns the fault of the next request, or 0 for none. It draws from
// the generator only when some rate is set, so the sequence is reproducible.
func (f *faults) next() Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) > 0 {
		fault := f.queue[0]
		f.queue = f.queue[1:]
		return fault
	}
	if f.reset+f.fail+f.throttle == 0 {
		return 0
	}
	switch u := f.rng.Float64(); {
	case u < f.reset:
		return Reset
	case u < f.reset+f.fail:
		return Fail
	case u < f.reset+f.fail+f.throttle:
		return Throttle
	}
	return 0
}

// wait blocks for d, or until the request's client is gone or the server
// closes; it reports whether d passed.
func wait(ctx context.Context, quit <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-quit:
	}
	return false
}

// drop hijacks the connection, writes the first bytes of a response when
// partial is set, and closes it with a TCP reset.
func drop(w http.ResponseWriter, partial bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if partial {
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: applica")
		_ = buf.Flush()
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// retryAfter is the Retry-After value of a 429: whole seconds, or with
// Options.RetryAfterDate the first whole-second HTTP-date at least that far
// from now.
func retryAfter(o Options, now time.Time) string {
	secs := o.retryAfterSeconds()
	if !o.RetryAfterDate {
		return strconv.FormatInt(secs, 10)
	}
	due := now.Add(time.Duration(secs) * time.Second)
	at := due.Truncate(time.Second)
	if at.Before(due) {
		at = at.Add(time.Second)
	}
	return at.UTC().Format(http.TimeFormat)
}
