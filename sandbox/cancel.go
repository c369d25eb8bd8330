package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
)

// CancelPath is the REST API's cancel path, as under api.refersion.com.
const CancelPath = "/v2/conversion/cancel"

// Cancel is one accepted cancel, as GET /_sandbox/cancels lists it.
type Cancel struct {
	OrderID   string       `json:"order_id"`
	Items     []CancelItem `json:"items"`
	PublicKey string       `json:"public_key"` // the public half of the keys that sent it
}

// CancelItem is one line of a cancel request.
type CancelItem struct {
	SKU      string      `json:"sku"`
	Quantity int64       `json:"quantity"`
	Price    json.Number `json:"price"`
}

// cancels is what Refersion keeps of conversions for the cancel API: the
// quantities accepted per order and sku, and those cancelled since.
type cancels struct {
	mu        sync.Mutex
	accepted  map[string]map[string]int64 // order_id → sku → units accepted
	cancelled map[string]map[string]int64
	log       []Cancel
	apiDown   bool
}

func newCancels() *cancels {
	return &cancels{accepted: map[string]map[string]int64{}, cancelled: map[string]map[string]int64{}}
}

// recordOrder notes an accepted paid order's units per sku. A duplicate
// order_id changes nothing: Refersion keeps one conversion per order, and
// what was cancelled of it stays cancelled.
func (c *cancels) recordOrder(body []byte) {
	var o struct {
		OrderID string `json:"order_id"`
		Items   []struct {
			SKU      string      `json:"sku"`
			Quantity json.Number `json:"quantity"`
		} `json:"items"`
	}
	if json.Unmarshal(body, &o) != nil {
		return
	}
	units := map[string]int64{}
	for _, it := range o.Items {
		q, err := it.Quantity.Int64()
		if err != nil || it.Quantity == "" {
			q = 1
		}
		units[it.SKU] += q
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.accepted[o.OrderID]; !dup {
		c.accepted[o.OrderID] = units
	}
}

// SetAPIDown starts or ends an outage of the REST API alone (503 to every
// cancel); the webhook is not affected.
func (s *Server) SetAPIDown(down bool) {
	s.cancels.mu.Lock()
	defer s.cancels.mu.Unlock()
	s.cancels.apiDown = down
}

// Cancels returns the accepted cancels, oldest first.
func (s *Server) Cancels() []Cancel {
	s.cancels.mu.Lock()
	defer s.cancels.mu.Unlock()
	return append([]Cancel(nil), s.cancels.log...)
}

// Net returns the units accepted minus the units cancelled for order_id and
// sku: what the conversion still counts.
func (s *Server) Net(orderID, sku string) int64 {
	s.cancels.mu.Lock()
	defer s.cancels.mu.Unlock()
	return s.cancels.accepted[orderID][sku] - s.cancels.cancelled[orderID][sku]
}

// cancel serves POST /v2/conversion/cancel as Refersion does: 422 error 5
// for an order it never accepted, a 422 for a quantity beyond what remains,
// 200 with a conversion id otherwise.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.cancelAnswer(w, http.StatusRequestEntityTooLarge, errorBody("Request body too large"), false)
		}
		return
	}
	c := s.cancels
	c.mu.Lock()
	down := c.apiDown
	c.mu.Unlock()
	switch {
	case down || s.isDown() && s.opts.DownAPI:
		s.cancelAnswer(w, http.StatusServiceUnavailable, errorBody("Service unavailable (sandbox API down)"), false)
		return
	case !s.authorized(r):
		s.cancelAnswer(w, http.StatusUnauthorized, errorBody("Invalid API credentials (error 2)."), false)
		return
	}
	var req struct {
		OrderID string       `json:"order_id"`
		Items   []CancelItem `json:"items"`
	}
	if json.Unmarshal(body, &req) != nil || req.OrderID == "" || len(req.Items) == 0 {
		s.cancelAnswer(w, http.StatusBadRequest, map[string]any{"errors": []string{"order_id and items are required"}}, false)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	acc, ok := c.accepted[req.OrderID]
	if !ok {
		s.cancelAnswerLocked(w, http.StatusUnprocessableEntity, map[string]any{"errors": []string{"Invalid order ID (error 5)"}}, false)
		return
	}
	done := c.cancelled[req.OrderID]
	want := map[string]int64{}
	for _, it := range req.Items {
		want[it.SKU] += it.Quantity
	}
	for sku, q := range want {
		if q <= 0 || q > acc[sku]-done[sku] {
			s.cancelAnswerLocked(w, http.StatusUnprocessableEntity, map[string]any{"errors": []string{"Quantity for " + sku + " exceeds what remains of the conversion"}}, false)
			return
		}
	}
	if done == nil {
		done = map[string]int64{}
		c.cancelled[req.OrderID] = done
	}
	for sku, q := range want {
		done[sku] += q
	}
	c.log = append(c.log, Cancel{OrderID: req.OrderID, Items: req.Items, PublicKey: s.public})
	s.cancelAnswerLocked(w, http.StatusOK, map[string]any{"conversion_id": "sandbox-" + req.OrderID}, true)
}

func (s *Server) cancelAnswer(w http.ResponseWriter, status int, body any, ok bool) {
	s.cancels.mu.Lock()
	defer s.cancels.mu.Unlock()
	s.cancelAnswerLocked(w, status, body, ok)
}

// cancelAnswerLocked counts and writes an answer; cancels.mu is held.
func (s *Server) cancelAnswerLocked(w http.ResponseWriter, status int, body any, ok bool) {
	s.ledger.countCancel(ok)
	writeJSON(w, status, body)
}
