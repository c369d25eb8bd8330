package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
)

// With the disk backend a SIGKILL loses no identity and no sent order: an
// order the store recorded as sent before a kill is not sent again after it.
// Orders whose request was in flight at the kill, or whose record was not
// yet on disk, can be (Refersion offers no way to ask whether one arrived);
// the test counts them.
func TestSIGKILLWithDiskStateKeepsSentOrders(t *testing.T) {
	w := newWorld(t, 40000, sandbox.Options{Latency: 2 * time.Millisecond})
	dir := t.TempDir()
	env := []string{"STATE_BACKEND=disk", "STATE_DIR=" + dir}
	const kills = 3
	recorded := map[string]bool{} // on disk as sent at some kill
	for k := 0; k < kills; k++ {
		r := start(t, w, env...)
		target := (k + 1) * len(w.Valid) / (kills + 1)
		waitFor(t, 60*time.Second, "deliveries", func() bool { return len(w.Sandbox.Orders()) >= target }, r)
		r.Kill()
		for id := range sentOnDisk(t, dir, accepted(t, w)) {
			recorded[id] = true
		}
	}
	before := accepted(t, w)
	r := start(t, w, env...)
	waitFor(t, 120*time.Second, "the whole stream", func() bool { return len(accepted(t, w)) == len(w.Valid) && w.Lag() == 0 }, r)
	if err := r.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	after := accepted(t, w)
	duplicates := 0
	for id, n := range after {
		duplicates += n - 1
		if recorded[id] && n > before[id] {
			t.Errorf("order %s, recorded as sent before a kill, was sent again after it", id)
		}
	}
	for id := range w.Valid {
		if after[id] == 0 {
			t.Errorf("order %s lost", id)
		}
	}
	if len(recorded) == 0 {
		t.Error("no order was on disk at any kill: the store was not exercised")
	}
	t.Logf("%d valid orders, %d kills, %d recorded at a kill, %d duplicates (not yet recorded when killed)", len(w.Valid), kills, len(recorded), duplicates)
	// A delivery holds its worker until its record is on disk, so a kill can
	// catch at most PIPELINE_CONCURRENCY (64) orders between 2xx and record.
	if duplicates > kills*64 {
		t.Errorf("%d duplicates exceed %d kills × 64 workers", duplicates, kills)
	}
}

// sentOnDisk opens the sent-order file the killed relay left and returns
// which of ids it holds as sent.
func sentOnDisk(t *testing.T, dir string, ids map[string]int) map[string]bool {
	t.Helper()
	s, err := disk.OpenSent(dir, disk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]bool{}
	for id := range ids {
		c, err := s.Claim(context.Background(), id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status == store.AlreadySent {
			out[id] = true
		}
	}
	return out
}

// Two replicas share one Redis: every order is delivered exactly once, and
// an order consumed by one replica carries the customer whose identify the
// other replica consumed.
func TestTwoReplicasShareRedis(t *testing.T) {
	redis := statetest.StartRedis(t)
	w, err := harness.NewWorld(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	env := []string{"STATE_BACKEND=redis", "REDIS_URL=" + redis.URL(), "LOG_LEVEL=info"}
	r1, r2 := start(t, w, env...), start(t, w, env...)
	waitFor(t, 60*time.Second, "the two replicas to split the partitions", func() bool {
		a, b := assigned(r1), assigned(r2)
		return len(a) > 0 && len(b) > 0 && len(a)+len(b) == 4
	}, r1, r2)

	// Identifies go to partition 0 only, orders to partitions 1-3: with two
	// members, some orders are consumed by the replica that did not see
	// their customer's identify.
	const people = 200
	var identifies, orders []kafka.Message
	for i := 0; i < people; i++ {
		id := "user-" + strconv.Itoa(i)
		identifies = append(identifies, kafka.Message{Partition: 0, Value: mustJSON(t, map[string]any{
			"type": "identify", "userId": id, "traits": map[string]any{"email": id + "@example.com", "name": "Person " + strconv.Itoa(i)}})})
		orders = append(orders, kafka.Message{Partition: 1 + i%3, Value: mustJSON(t, map[string]any{
			"type": "track", "event": "Order Completed", "userId": id,
			"properties": map[string]any{"cart_id": "c-" + id, "order_id": "o-" + id, "currency": "USD",
				"products": []any{map[string]any{"sku": "A", "price": 1}}}})})
	}
	produceTo(t, w, identifies)
	waitFor(t, 60*time.Second, "the identifies to be applied", func() bool { return w.Lag() == 0 }, r1, r2)
	produceTo(t, w, orders)
	waitFor(t, 60*time.Second, "every order", func() bool { return len(w.Sandbox.Orders()) >= people && w.Lag() == 0 }, r1, r2)

	got := map[string]int{}
	for _, raw := range w.Sandbox.Orders() {
		var o struct {
			OrderID  string `json:"order_id"`
			Customer struct {
				Email string `json:"email"`
			} `json:"customer"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		got[o.OrderID]++
		if want := o.OrderID[len("o-"):] + "@example.com"; o.Customer.Email != want {
			t.Errorf("order %s carries customer %q, want %q", o.OrderID, o.Customer.Email, want)
		}
	}
	for i := 0; i < people; i++ {
		if n := got["o-user-"+strconv.Itoa(i)]; n != 1 {
			t.Errorf("order o-user-%d delivered %d times, want once", i, n)
		}
	}
}

// assigned returns the partitions r logged as assigned last.
func assigned(r *harness.Relay) []int {
	var last []int
	for _, line := range strings.Split(r.Stderr(), "\n") {
		var rec struct {
			Msg        string `json:"msg"`
			Partitions []int  `json:"partitions"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "partitions assigned" {
			last = rec.Partitions
		}
	}
	return last
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// produceTo writes msgs to the partitions they name.
func produceTo(t *testing.T, w *harness.World, msgs []kafka.Message) {
	t.Helper()
	kw := &kafka.Writer{Addr: kafka.TCP(w.Broker.Addr()), Topic: harness.Topic, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })}
	defer kw.Close()
	for i := range msgs {
		msgs[i].Value = bytes.Clone(msgs[i].Value)
	}
	if err := kw.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}
