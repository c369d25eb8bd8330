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

// cancels is what Refersion keeps of conversions for the cancel API, per
// account: the quantities accepted per order and sku, and those cancelled
// since. An order_id under two public keys is two conversions.
type cancels struct {
	mu        sync.Mutex
	accepted  map[conversion]map[string]int64 // sku → units accepted
	cancelled map[conversion]map[string]int64
	log       []Cancel
	apiDown   bool
}

// conversion names one order of one account.
type conversion struct{ publicKey, orderID string }

func newCancels() *cancels {
	return &cancels{accepted: map[conversion]map[string]int64{}, cancelled: map[conversion]map[string]int64{}}
}

// recordOrder notes a paid order accepted under publicKey, its units per
// sku. A duplicate order_id under the same key changes nothing: Refersion
// keeps one conversion per order, and what was cancelled of it stays
// cancelled.
func (c *cancels) recordOrder(publicKey string, body []byte) {
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
	id := conversion{publicKey, o.OrderID}
	if _, dup := c.accepted[id]; !dup {
		c.accepted[id] = units
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
// sku, summed over every account: what the conversions still count. With one
// key pair it is that account's; NetFor tells accounts apart.
func (s *Server) Net(orderID, sku string) int64 {
	s.cancels.mu.Lock()
	defer s.cancels.mu.Unlock()
	var n int64
	for _, p := range s.pairs {
		id := conversion{p.public, orderID}
		n += s.cancels.accepted[id][sku] - s.cancels.cancelled[id][sku]
	}
	return n
}

// NetFor is Net for the conversion of order_id under publicKey alone.
func (s *Server) NetFor(publicKey, orderID, sku string) int64 {
	s.cancels.mu.Lock()
	defer s.cancels.mu.Unlock()
	id := conversion{publicKey, orderID}
	return s.cancels.accepted[id][sku] - s.cancels.cancelled[id][sku]
}

// cancel serves POST /v2/conversion/cancel as Refersion does: 422 error 5
// for an order it never accepted under the keys of the request (an order of
// another account is unknown to this one), a 422 for a quantity beyond what
// remains, 200 with a conversion id otherwise.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.cancelAnswer(w, http.StatusRequestEntityTooLarge, errorBody("Request body too large"))
		}
		return
	}
	c := s.cancels
	c.mu.Lock()
	down := c.apiDown
	c.mu.Unlock()
	if down || s.isDown() && s.opts.DownAPI {
		s.cancelAnswer(w, http.StatusServiceUnavailable, errorBody("Service unavailable (sandbox API down)"))
		return
	}
	public, ok := s.authorized(r)
	if !ok {
		s.cancelAnswer(w, http.StatusUnauthorized, errorBody("Invalid API credentials (error 2)."))
		return
	}
	var req struct {
		OrderID string       `json:"order_id"`
		Items   []CancelItem `json:"items"`
	}
	if json.Unmarshal(body, &req) != nil || req.OrderID == "" || len(req.Items) == 0 {
		s.cancelAnswer(w, http.StatusBadRequest, map[string]any{"errors": []string{"order_id and items are required"}})
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := conversion{public, req.OrderID}
	acc, ok := c.accepted[id]
	if !ok {
		s.cancelAnswerLocked(w, http.StatusUnprocessableEntity, map[string]any{"errors": []string{"Invalid order ID (error 5)"}})
		return
	}
	done := c.cancelled[id]
	want := map[string]int64{}
	for _, it := range req.Items {
		want[it.SKU] += it.Quantity
	}
	for sku, q := range want {
		if q <= 0 || q > acc[sku]-done[sku] {
			s.cancelAnswerLocked(w, http.StatusUnprocessableEntity, map[string]any{"errors": []string{"Quantity for " + sku + " exceeds what remains of the conversion"}})
			return
		}
	}
	if done == nil {
		done = map[string]int64{}
		c.cancelled[id] = done
	}
	for sku, q := range want {
		done[sku] += q
	}
	c.log = append(c.log, Cancel{OrderID: req.OrderID, Items: req.Items, PublicKey: public})
	s.ledger.countCancel(true, public)
	writeJSON(w, http.StatusOK, map[string]any{"conversion_id": "sandbox-" + req.OrderID})
}

// cancelAnswer counts and writes an answer other than an accepted cancel.
func (s *Server) cancelAnswer(w http.ResponseWriter, status int, body any) {
	s.cancels.mu.Lock()
	defer s.cancels.mu.Unlock()
	s.cancelAnswerLocked(w, status, body)
}

// cancelAnswerLocked is cancelAnswer with cancels.mu held.
func (s *Server) cancelAnswerLocked(w http.ResponseWriter, status int, body any) {
	s.ledger.countCancel(false, "")
	writeJSON(w, status, body)
}
