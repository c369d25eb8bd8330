package sandbox

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// maxBody is the largest paid-order body read; a larger one is answered 413.
const maxBody = 1 << 20

// Handler serves the webhook and the /_sandbox endpoints. It is what Start
// serves; use it directly to mount the sandbox in another server.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PaidOrderPath, s.paid)
	mux.HandleFunc("POST "+CancelPath, s.cancel)
	mux.HandleFunc("GET /_sandbox/cancels", func(w http.ResponseWriter, r *http.Request) {
		cancels := s.Cancels()
		if key, ok := r.URL.Query()["public_key"]; ok {
			cancels = slices.DeleteFunc(cancels, func(c Cancel) bool { return c.PublicKey != key[0] })
		}
		writeJSON(w, http.StatusOK, cancels)
	})
	mux.HandleFunc("GET /_sandbox/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /_sandbox/orders", func(w http.ResponseWriter, r *http.Request) {
		orders := s.AcceptedOrders()
		if key, ok := r.URL.Query()["public_key"]; ok {
			orders = slices.DeleteFunc(orders, func(o Order) bool { return o.PublicKey != key[0] })
		}
		if v := r.URL.Query().Get("last"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeJSON(w, http.StatusBadRequest, errorBody("last: want a whole number of orders"))
				return
			}
			orders = orders[max(len(orders)-n, 0):]
		}
		out := make([]json.RawMessage, len(orders))
		for i, o := range orders {
			out[i] = withPublicKey(o)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("DELETE /_sandbox/orders", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// paid answers one paid-order request. In order: the body is read, Latency
// passes, an outage answers, an injected or drawn fault answers, the keys are
// checked, RejectAll answers, then the payload is validated and recorded.
func (s *Server) paid(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.answer(w, http.StatusRequestEntityTooLarge, errorBody("Request body too large"), outRejected)
		}
		return // otherwise the client is gone
	}
	if s.opts.Latency > 0 && !wait(r.Context(), s.quit, s.opts.Latency) {
		return
	}
	if s.isDown() {
		if s.opts.DownRefuse {
			s.ledger.count(outDown)
			drop(w, false)
			return
		}
		s.answer(w, http.StatusServiceUnavailable, errorBody("Service unavailable (sandbox down)"), outDown)
		return
	}
	switch s.faults.next() {
	case Reset:
		s.ledger.count(outReset)
		s.log.Info("paid order", "fault", "reset")
		drop(w, true)
		return
	case Fail:
		s.answer(w, http.StatusServiceUnavailable, errorBody("Service unavailable (sandbox fault)"), outFailed)
		return
	case Throttle:
		w.Header().Set("Retry-After", retryAfter(s.opts, time.Now()))
		s.answer(w, http.StatusTooManyRequests, errorBody("Too many requests"), outThrottled)
		return
	case Stall:
		s.ledger.count(outStalled)
		wait(r.Context(), s.quit, 24*time.Hour)
		return
	case ErrorBody:
		s.answer(w, http.StatusOK, errorBody("Order could not be processed (sandbox fault)"), outRejected)
		return
	}
	public, ok := s.authorized(r)
	if !ok {
		s.answer(w, http.StatusUnauthorized, errorBody("Invalid API credentials (error 2)."), outUnauthorized)
		return
	}
	if s.opts.RejectAll {
		s.answer(w, http.StatusUnprocessableEntity,
			map[string]any{"errors": []string{"Rejected by the sandbox (reject-all)"}}, outRejected)
		return
	}
	v := validate(body)
	if v.status != http.StatusOK {
		s.answer(w, v.status, v.body, outRejected)
		return
	}
	if slices.Contains(s.opts.FailOrders, v.orderID) || s.failing(v.orderID) {
		s.answer(w, http.StatusInternalServerError, errorBody("Internal server error (sandbox: this order always fails)"), outFailed)
		return
	}
	duplicate := s.ledger.accept(public, v.orderID, body)
	s.cancels.recordOrder(public, body)
	s.log.Info("paid order", "status", v.status, "order_id", v.orderID, "public_key", public, "duplicate", duplicate)
	writeJSON(w, v.status, v.body)
}

// authorized returns the public key of the accepted pair that both key
// headers match, comparing each pair in constant time.
func (s *Server) authorized(r *http.Request) (public string, ok bool) {
	gotPub, gotSec := []byte(r.Header.Get("Refersion-Public-Key")), []byte(r.Header.Get("Refersion-Secret-Key"))
	for _, p := range s.pairs {
		pub := subtle.ConstantTimeCompare(gotPub, []byte(p.public))
		sec := subtle.ConstantTimeCompare(gotSec, []byte(p.secret))
		if pub&sec == 1 {
			public, ok = p.public, true
		}
	}
	return public, ok
}

// withPublicKey is o's payload with "public_key" added as its first member,
// as GET /_sandbox/orders lists it. Payloads are JSON objects: the webhook
// accepts nothing else.
func withPublicKey(o Order) json.RawMessage {
	key, _ := json.Marshal(o.PublicKey)
	body := bytes.TrimSpace(o.Payload)
	out := append([]byte(`{"public_key":`), key...)
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, body[1:]...)
}

// answer counts and logs a request that was not accepted, and writes body.
func (s *Server) answer(w http.ResponseWriter, status int, body any, o outcome) {
	s.ledger.count(o)
	s.log.Info("paid order", "status", status, "body", body)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
