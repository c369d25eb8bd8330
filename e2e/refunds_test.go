package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/storefront"
)

// A generated stream with refunds and cancellations, the relay killed
// twice in the middle: in the end, Refersion's net units of every order and
// sku are what the generator says survived the refunds.
func TestRefundsEndToEndWithKills(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	w, err := harness.NewWorld(sandbox.Options{Latency: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Batch, o.Refunds = 8000, 11, 0, 0.6
	g, err := w.ProduceWith(o)
	if err != nil {
		t.Fatal(err)
	}
	c := g.Counts()
	t.Logf("%d valid orders, %d cancellations, %d product refunds, %d amount refunds", c.OrderValid, c.Cancellations, c.ProductRefunds, c.AmountRefunds)
	env := []string{"REFUND_EVENTS=Order Refunded", "CANCEL_EVENTS=Order Cancelled", "REFERSION_API_URL=" + w.Sandbox.APIURL(),
		"STATE_BACKEND=disk", "STATE_DIR=" + t.TempDir()}
	var logs strings.Builder // every run's stderr
	for k := range 2 {
		r := start(t, w, env...)
		target := (k + 1) * len(w.Valid) / 3
		waitFor(t, 60*time.Second, "deliveries before the kill", func() bool { return len(w.Sandbox.Orders()) >= target }, r)
		r.Kill()
		logs.WriteString(r.Stderr())
	}
	r := start(t, w, env...)
	waitFor(t, 120*time.Second, "the whole stream", func() bool {
		return len(accepted(t, w)) == len(w.Valid) && w.Lag() == 0
	}, r)
	if err := r.Stop(30 * time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	logs.WriteString(r.Stderr())
	// A cancel cut off by a kill after its items were recorded but before
	// Refersion's answer was recorded is taken as sent, never sent twice;
	// if the kill came before it reached Refersion, its units stay. Every
	// such order must be named in a warning: that is the one window.
	uncertain := map[string]bool{}
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Msg     string `json:"msg"`
			OrderID string `json:"order_id"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "a cancel interrupted after it was sent") {
			uncertain[rec.OrderID] = true
		}
	}
	wrong := 0
	for order, skus := range g.Survivors() {
		for sku, want := range skus {
			got := w.Sandbox.Net(order, sku)
			switch {
			case got == int64(want):
			case uncertain[order] && got > int64(want):
				t.Logf("order %s sku %s: %d units in Refersion, %d survived: a cancel cut off by a kill, reported", order, sku, got, want)
			default:
				wrong++
				if wrong <= 10 {
					t.Errorf("order %s sku %s: %d units in Refersion, want %d", order, sku, got, want)
				}
			}
		}
	}
	if st := w.Sandbox.Stats(); st.Cancels == 0 {
		t.Errorf("no cancel reached the sandbox: %+v", st)
	}
	t.Logf("%d cancels accepted, %d rejected; %d (order, sku) pairs wrong", w.Sandbox.Stats().Cancels, w.Sandbox.Stats().CancelRejected, wrong)
}
