package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
)

// accountOrder is an order of the store that routes it to an account.
func accountOrder(id, storeID string) kafka.Message {
	return kafka.Message{Key: []byte(id), Value: []byte(`{"type":"track","event":"Order Completed","context":{"groupId":"` + storeID +
		`"},"properties":{"cart_id":"c","order_id":"` + id + `","currency":"USD","products":[{"sku":"A","price":1}]}}`)}
}

// testAccount is one account of a several-account rig: its own sandbox
// (Refersion account), keys and sent-order store.
type testAccount struct {
	name, store string
	sandbox     *sandbox.Server
	sent        store.Sent
}

func newTestAccount(t *testing.T, name, storeID string) *testAccount {
	t.Helper()
	sb := sandbox.New(sandbox.Options{Keys: name + "-public." + name + "-secret"})
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return &testAccount{name: name, store: storeID, sandbox: sb, sent: memory.NewSent(memory.Options{})}
}

// accepted returns the order_ids a's sandbox accepted, with repeats.
func (a *testAccount) accepted(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, raw := range a.sandbox.Orders() {
		var o struct {
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		out[o.OrderID]++
	}
	return out
}

// accountLanes routes by context.groupId to accts; keys overrides an
// account's keys (wrong ones, say).
func accountLanes(t *testing.T, accts []*testAccount, keys map[string]string) (*mapping.Router, map[string]pipeline.Lane) {
	t.Helper()
	var routes []mapping.Account
	lanes := map[string]pipeline.Lane{}
	for _, a := range accts {
		routes = append(routes, mapping.Account{Name: a.name, Select: []string{a.store}})
		k := a.name + "-public." + a.name + "-secret"
		if o, ok := keys[a.name]; ok {
			k = o
		}
		pk, err := sink.ParseKeys(k)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sink.New(sink.Config{Endpoint: a.sandbox.Endpoint(), Keys: pk, RequestTimeout: 5 * time.Second,
			Retry:   sink.RetryConfig{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxElapsed: time.Second},
			Breaker: sink.BreakerConfig{Failures: 3, OpenTimeout: 50 * time.Millisecond},
		}, a.sent)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		lanes[a.name] = pipeline.Lane{Sink: s, Healthy: func() bool { return s.BreakerState() == sink.BreakerClosed }}
	}
	router, err := mapping.NewRouter("context.groupId", routes)
	if err != nil {
		t.Fatal(err)
	}
	return router, lanes
}

// accountsPipeline is a pipeline of accountLanes.
func (r *rig) accountsPipeline(t *testing.T, group string, accts []*testAccount, keys map[string]string) *pipeline.Pipeline {
	t.Helper()
	router, lanes := accountLanes(t, accts, keys)
	p, err := pipeline.New(pipeline.Config{Brokers: []string{r.broker.Addr()}, Topic: topic, GroupID: group,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
		DrainTimeout: 2 * time.Second, RedoBackoff: 5 * time.Millisecond, RedoBackoffMax: 50 * time.Millisecond,
		Processor: processor.Options{Accounts: router}, Lanes: lanes,
	}, mapping.MustNew(mapping.Options{}), nil, memory.NewIdentities(memory.Options{}), r.dlq())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Three accounts routed by a field, one with wrong keys: its orders are held
// (not ready names it, nothing of it is dead-lettered or committed past
// it), the other two deliver everything; an order for no account is
// dead-lettered. With the keys fixed and the relay restarted, the held orders
// are delivered exactly once, and nobody else's again. The same order_id in
// two accounts is two orders.
func TestAnAccountWithWrongKeysHoldsOnlyItsOwnOrders(t *testing.T) {
	r := newRig(t, 2, sandbox.Options{})
	accts := []*testAccount{newTestAccount(t, "a", "store-1"), newTestAccount(t, "b", "store-2"), newTestAccount(t, "c", "store-3")}
	var msgs []kafka.Message
	const per = 20
	for i := range per {
		for _, a := range accts {
			msgs = append(msgs, accountOrder(fmt.Sprintf("%s-%d", a.name, i), a.store))
		}
	}
	msgs = append(msgs, accountOrder("shared", "store-1"), accountOrder("shared", "store-3"), accountOrder("lost", "store-9"),
		kafka.Message{Value: []byte(`{"type":"track","event":"Order Completed","context":{"groupId":"store-3"},"properties":{"order_id":"no-currency","products":[{"sku":"A","price":1}]}}`)})
	r.write(t, msgs...)

	p := r.accountsPipeline(t, "g-accounts", accts, map[string]string{"b": "b-public.wrong"})
	stop := start(t, p)
	waitFor(t, 30*time.Second, "accounts a and c delivered, the unknown store dead-lettered", func() bool {
		return len(accts[0].accepted(t)) == per+1 && len(accts[2].accepted(t)) == per+1 &&
			p.Stats().DeadLettered[deadletter.ReasonNoAccount] == 1 && p.Stats().DeadLettered[deadletter.ReasonInvalid] == 1
	})
	for _, d := range r.deadLetters() {
		if d.Reason == deadletter.ReasonInvalid && d.Account != "c" {
			t.Errorf("the invalid order of store-3 is dead-lettered with account %q, want c", d.Account)
		}
	}
	ready, why := p.Ready()
	if ready || !strings.Contains(why, "account b") || !strings.Contains(why, "refused the account's keys") {
		t.Errorf("Ready() = %v, %q; want not ready naming account b's keys", ready, why)
	}
	if strings.Contains(why, "account a") || strings.Contains(why, "account c") {
		t.Errorf("Ready() names a healthy account: %q", why)
	}
	if n := len(accts[1].accepted(t)); n != 0 {
		t.Errorf("account b with wrong keys had %d orders accepted", n)
	}
	if got := p.Stats().DeadLetteredTotal(); got != 2 {
		t.Errorf("dead-lettered %d, want only the order for no account and the invalid one", got)
	}
	if c, end := r.committed("g-accounts"); c >= end {
		t.Errorf("committed %d of %d: the held orders' offsets must stay uncommitted", c, end)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	p = r.accountsPipeline(t, "g-accounts", accts, nil)
	start(t, p)
	waitFor(t, 30*time.Second, "account b's held orders delivered after the restart", func() bool {
		c, end := r.committed("g-accounts")
		return len(accts[1].accepted(t)) == per && c == end
	})
	for _, a := range accts {
		for id, n := range a.accepted(t) {
			if n != 1 {
				t.Errorf("account %s: order %s accepted %d times", a.name, id, n)
			}
		}
	}
	for _, a := range []*testAccount{accts[0], accts[2]} {
		if a.accepted(t)["shared"] != 1 {
			t.Errorf("account %s: the order_id both accounts use was not delivered to it", a.name)
		}
	}
}

// One account's outage under load: the other accounts deliver everything
// while it lasts, the account in trouble holds its orders (nothing
// dead-lettered), and once it is back they are delivered exactly once.
func TestAnAccountsOutageHoldsOnlyItsLane(t *testing.T) {
	r := newRig(t, 2, sandbox.Options{})
	accts := []*testAccount{newTestAccount(t, "a", "store-1"), newTestAccount(t, "b", "store-2"), newTestAccount(t, "c", "store-3")}
	accts[1].sandbox.SetDown(true)
	p := r.accountsPipeline(t, "g-outage", accts, nil)
	start(t, p)
	const per = 200
	var msgs []kafka.Message
	for i := range per {
		for _, a := range accts {
			msgs = append(msgs, accountOrder(fmt.Sprintf("%s-%d", a.name, i), a.store))
		}
	}
	r.write(t, msgs...)
	waitFor(t, 60*time.Second, "accounts a and c delivered during b's outage", func() bool {
		return len(accts[0].accepted(t)) == per && len(accts[2].accepted(t)) == per
	})
	if ready, why := p.Ready(); ready || !strings.Contains(why, "account b") {
		t.Errorf("Ready() = %v, %q during account b's outage; want not ready naming it", ready, why)
	}
	if n := len(accts[1].accepted(t)); n != 0 {
		t.Fatalf("account b accepted %d orders while down", n)
	}
	accts[1].sandbox.SetDown(false)
	waitFor(t, 60*time.Second, "account b's held orders delivered", func() bool {
		c, end := r.committed("g-outage")
		return len(accts[1].accepted(t)) == per && c == end
	})
	if s := p.Stats(); s.DeadLetteredTotal() != 0 || s.Delivered != 3*per {
		t.Errorf("stats %s: want %d delivered, none dead-lettered", describe(s), 3*per)
	}
	for _, a := range accts {
		for id, n := range a.accepted(t) {
			if n != 1 {
				t.Errorf("account %s: order %s accepted %d times", a.name, id, n)
			}
		}
	}
	waitFor(t, 10*time.Second, "ready again", func() bool { ready, _ := p.Ready(); return ready })
}

// A reload with an account's keys fixed delivers the orders its lane held,
// without a restart and exactly once; an account added by the reload takes
// the events of its store from then on.
func TestAReloadWithFixedKeysReleasesTheHeldOrders(t *testing.T) {
	r := newRig(t, 2, sandbox.Options{})
	accts := []*testAccount{newTestAccount(t, "a", "store-1"), newTestAccount(t, "b", "store-2")}
	const per = 30
	var msgs []kafka.Message
	for i := range per {
		for _, a := range accts {
			msgs = append(msgs, accountOrder(fmt.Sprintf("%s-%d", a.name, i), a.store))
		}
	}
	r.write(t, msgs...)
	p := r.accountsPipeline(t, "g-reload", accts, map[string]string{"b": "b-public.wrong"})
	start(t, p)
	waitFor(t, 30*time.Second, "account a delivered while b is held", func() bool {
		ready, why := p.Ready()
		return len(accts[0].accepted(t)) == per && !ready && strings.Contains(why, "account b")
	})
	newcomer := newTestAccount(t, "n", "store-new")
	router, lanes := accountLanes(t, append(accts, newcomer), nil)
	if err := p.Reload(router, lanes); err != nil {
		t.Fatal(err)
	}
	r.write(t, accountOrder("n-1", "store-new"))
	waitFor(t, 30*time.Second, "b's held orders and the new account's order delivered", func() bool {
		c, end := r.committed("g-reload")
		return len(accts[1].accepted(t)) == per && len(newcomer.accepted(t)) == 1 && c == end
	})
	for _, a := range append(accts, newcomer) {
		for id, n := range a.accepted(t) {
			if n != 1 {
				t.Errorf("account %s: order %s accepted %d times", a.name, id, n)
			}
		}
	}
	if ready, why := p.Ready(); !ready {
		t.Errorf("not ready after the reload: %s", why)
	}
	if s := p.Stats(); s.DeadLetteredTotal() != 0 {
		t.Errorf("dead-lettered %d", s.DeadLetteredTotal())
	}
}

// Refunds route as orders do: the same order_id in two accounts, one of
// them cancelled, is cancelled in that account only; a refund of an account
// whose order is not through yet is dead-lettered, and replay, routing the
// same way, settles it in that account once the order is delivered.
func TestRefundsAndReplayRouteByAccount(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{})
	accts := []*testAccount{newTestAccount(t, "a", "store-1"), newTestAccount(t, "b", "store-2")}
	var routes []mapping.Account
	lanes := map[string]pipeline.Lane{}
	sinks := map[string]sink.Sink{}
	cancellers := map[string]*sink.Canceller{}
	ledger := memory.NewLedger(memory.Options{})
	for _, a := range accts {
		routes = append(routes, mapping.Account{Name: a.name, Select: []string{a.store}, OrderPrefix: strings.ToUpper(a.name) + "-"})
		pk, _ := sink.ParseKeys(a.name + "-public." + a.name + "-secret")
		cfg := sink.Config{Endpoint: a.sandbox.Endpoint(), Keys: pk, Retry: sink.RetryConfig{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond}}
		l := store.LedgerOf(ledger, a.name)
		s, err := sink.New(cfg, a.sent, sink.WithLedger(l))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Endpoint = a.sandbox.APIURL()
		c, err := sink.NewCanceller(cfg, a.sent, l)
		if err != nil {
			t.Fatal(err)
		}
		lanes[a.name], sinks[a.name], cancellers[a.name] = pipeline.Lane{Sink: s, Cancels: c}, s, c
	}
	router, err := mapping.NewRouter("context.groupId", routes)
	if err != nil {
		t.Fatal(err)
	}
	order := func(id, st string) kafka.Message {
		return ev(`{"type":"track","event":"Order Completed","context":{"groupId":"` + st + `"},"properties":{"cart_id":"c","order_id":"` + id +
			`","currency":"USD","products":[{"sku":"A","price":10,"quantity":2}]}}`)
	}
	cancel := func(msgID, id, st string) kafka.Message {
		return ev(`{"type":"track","event":"Order Cancelled","messageId":"` + msgID + `","context":{"groupId":"` + st + `"},"properties":{"order_id":"` + id + `"}}`)
	}
	r.write(t, order("1001", "store-1"), order("1001", "store-2"), cancel("c1", "1001", "store-1"), cancel("c2", "2002", "store-2"))
	m := mapping.MustNew(mapping.Options{RefundEvents: mapping.DefaultRefundEvents, CancelEvents: mapping.DefaultCancelEvents})
	ids := memory.NewIdentities(memory.Options{})
	popts := processor.Options{Accounts: router}
	p, err := pipeline.New(pipeline.Config{Brokers: []string{r.broker.Addr()}, Topic: topic, GroupID: "g-account-refunds",
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RedoBackoff: 5 * time.Millisecond, RedoBackoffMax: 20 * time.Millisecond, Processor: popts, Lanes: lanes}, m, nil, ids, r.dlq())
	if err != nil {
		t.Fatal(err)
	}
	start(t, p)
	waitFor(t, 30*time.Second, "every event settled", func() bool { s := p.Stats(); return s.Events == 4 && s.Settled() == 4 })
	if a, b := accts[0].sandbox.Net("A-1001", "A"), accts[1].sandbox.Net("B-1001", "A"); a != 0 || b != 2 {
		t.Errorf("nets: account a's A-1001 %d (want 0, cancelled), account b's B-1001 %d (want 2)", a, b)
	}
	if got := p.Stats().DeadLettered[deadletter.ReasonRefundBeforeOrder]; got != 1 {
		t.Fatalf("refund_before_order dead letters: %d", got)
	}
	r.write(t, order("2002", "store-2"))
	waitFor(t, 30*time.Second, "b's 2002 delivered", func() bool { return accts[1].accepted(t)["B-2002"] == 1 })

	src, err := replay.OpenKafka(context.Background(), replay.KafkaOptions{Brokers: []string{r.broker.Addr()}, Topic: dlqTopic, DeadLetters: true})
	if err != nil {
		t.Fatal(err)
	}
	rp := &replay.Replayer{Mapper: m, Sink: sink.Accounts{Sinks: sinks, Cancels: cancellers}, Sent: memory.NewSent(memory.Options{}),
		Identities: ids, Cancels: sink.Accounts{Sinks: sinks, Cancels: cancellers}, Processor: popts}
	sum, err := rp.Run(context.Background(), src, replay.Filter{Reasons: []string{deadletter.ReasonRefundBeforeOrder}}, nil)
	if err != nil || sum.Delivered != 1 {
		t.Fatalf("replay: %+v %v", sum, err)
	}
	if net := accts[1].sandbox.Net("B-2002", "A"); net != 0 {
		t.Errorf("after the replay account b's B-2002 nets %d, want 0", net)
	}
}

// Held work is bounded: once the lanes in trouble hold HeldLimit orders,
// fetching pauses for everybody, and /readyz says why.
func TestHeldOrdersAreBoundedByHeldLimit(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{})
	accts := []*testAccount{newTestAccount(t, "a", "store-1"), newTestAccount(t, "b", "store-2")}
	router, lanes := accountLanes(t, accts, map[string]string{"b": "b-public.wrong"})
	p, err := pipeline.New(pipeline.Config{Brokers: []string{r.broker.Addr()}, Topic: topic, GroupID: "g-held",
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
		DrainTimeout: 2 * time.Second, RedoBackoff: 5 * time.Millisecond, RedoBackoffMax: 50 * time.Millisecond,
		Processor: processor.Options{Accounts: router}, Lanes: lanes, HeldLimit: 10,
	}, mapping.MustNew(mapping.Options{}), nil, memory.NewIdentities(memory.Options{}), r.dlq())
	if err != nil {
		t.Fatal(err)
	}
	start(t, p)
	r.write(t, accountOrder("b-first", "store-2"))
	waitFor(t, 30*time.Second, "account b holding", func() bool {
		_, why := p.Ready()
		return strings.Contains(why, "account b orders holding 1")
	})
	var msgs []kafka.Message
	for i := range 30 {
		msgs = append(msgs, accountOrder(fmt.Sprintf("b-%d", i), "store-2"))
	}
	for i := range 30 {
		msgs = append(msgs, accountOrder(fmt.Sprintf("a-%d", i), "store-1"))
	}
	r.write(t, msgs...)
	waitFor(t, 30*time.Second, "fetching paused at the held limit", func() bool {
		_, why := p.Ready()
		return strings.HasPrefix(why, "paused: lanes in trouble hold 10 orders, PIPELINE_HELD_LIMIT")
	})
	if n := len(accts[0].accepted(t)); n != 0 {
		t.Errorf("account a had %d orders delivered: fetching must have paused before them", n)
	}
	if m := p.Stats().Messages; m > 11 {
		t.Errorf("%d messages fetched with a held limit of 10", m)
	}
}
