package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
)

// replayedOrders is how many orders the replay row dead-letters, then
// replays beside the relay delivering them again.
const replayedOrders = 24

// driveReplay plays `replay` beside a running relay on one redis state.
//
// First run: the gate rejects (422) a set of orders, which the relay
// dead-letters (reason rejected) while delivering the others. Then the
// stream brings the same events again, first, and a fresh load behind them;
// the relay goes through the gate, which holds its requests for the set
// (the relay holds their claims meanwhile), and `replay --reason rejected`
// runs against the same redis state, straight to the sandbox. The held
// requests go through one second after the replay has started on its
// records.
//
// The contract: replay exits 0; an order the relay holds is waited for and
// counted skipped, never failed again nor dead-lettered again; the replay
// delivers the rest of the set itself; nothing is sent twice (check) and
// nothing lost.
func driveReplay(ctx context.Context, bin string, w *harness.World, env []string, rnd *rand.Rand) (string, error) {
	limit := time.Until(deadline(ctx))
	g, err := startGate(w.Sandbox.URL())
	if err != nil {
		return "", err
	}
	defer g.Close()
	set, msgs := replayable(replayedOrders)
	if err := produceMore(w, set, msgs); err != nil {
		return "", err
	}
	g.set(set, nil)
	relayEnv := append(append([]string{}, env...), "REFERSION_URL="+g.URL()+sandbox.PaidOrderPath,
		"PIPELINE_REJECTION_LIMIT=0") // the set is rejected in a row: no sign of a wrong path here
	rl, err := harness.Start(bin, w.Env(relayEnv...))
	if err != nil {
		return "", err
	}
	firstRun := func() bool {
		got, err := w.Accepted()
		return err == nil && len(got) >= len(w.Valid)-len(set) && w.Lag() == 0
	}
	if err := harness.WaitFor(limit, "the first run, the set rejected", firstRun, rl); err != nil {
		rl.Kill()
		return "", err
	}
	if err := rl.Stop(30 * time.Second); err != nil {
		return "", fmt.Errorf("first run: %w", err)
	}
	if n, err := deadLettered(ctx, w, set); err != nil || n != len(set) {
		return "", fmt.Errorf("first run dead-lettered %d of the %d rejected orders (%v)", n, len(set), err)
	}

	// The same events again, then a fresh load; the relay's requests for
	// the set are held.
	g.set(nil, set)
	if err := produceMore(w, set, msgs); err != nil {
		return "", err
	}
	if err := w.Produce(w.Events/2, rnd.Int63()); err != nil {
		return "", err
	}
	rl, err = harness.Start(bin, w.Env(relayEnv...))
	if err != nil {
		return "", err
	}
	defer func() { _ = rl.Stop(30 * time.Second) }()
	if err := harness.WaitFor(limit, "the relay to hold orders of the set", func() bool { return g.holding() > 0 }, rl); err != nil {
		return "", err
	}
	rp, err := startProc(bin, w.Env(append(append([]string{}, env...), "REFERSION_URL="+w.Sandbox.Endpoint())...),
		"replay", "--reason", deadletter.ReasonRejected)
	if err != nil {
		return "", err
	}
	started := func() bool { return strings.Contains(rp.Output(), " records (") } // its first progress line: records dispatched
	if err := waitUntil(limit, "the replay to start on its records", started, rp); err != nil {
		rp.kill()
		return "", err
	}
	select { // the fault: the relay's held requests last this long more
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	held := g.holding()
	g.release()
	if err := rp.wait(limit); err != nil {
		return "", fmt.Errorf("replay beside the relay: %w; output:\n%s", err, tail(rp.Output()))
	}
	sum, err := replaySummary(rp.Output())
	if err != nil {
		return "", err
	}
	switch {
	case held == 0:
		return "", errors.New("the relay held no order of the set while the replay ran: the row tested nothing")
	case sum["failed again"] != 0 || sum["delivered"]+sum["skipped as already sent"] != len(set):
		return "", fmt.Errorf("replay of %d orders, %d of them held by the relay: %v, want each delivered or skipped; output:\n%s", len(set), held, sum, tail(rp.Output()))
	case sum["skipped as already sent"] < held:
		return "", fmt.Errorf("replay skipped %d orders, but the relay was sending %d when the replay met them: %v", sum["skipped as already sent"], held, sum)
	}
	done := func() bool {
		got, err := w.Accepted()
		return err == nil && len(got) >= len(w.Valid) && w.Lag() == 0
	}
	if err := harness.WaitFor(time.Until(deadline(ctx)), "the whole stream", done, rl); err != nil {
		return "", err
	}
	if n, err := deadLettered(ctx, w, set); err != nil || n != len(set) {
		return "", fmt.Errorf("%d dead letters for the %d replayed orders after the replay, want the first run's only (%v)", n, len(set), err)
	}
	return fmt.Sprintf("%d orders dead-lettered, then replayed while the relay delivered them again: replay exit 0, delivered %d, skipped %d (%d of the relay's requests for them held at the gate as the replay met them), failed again 0",
		len(set), sum["delivered"], sum["skipped as already sent"], held), nil
}

// replayable returns n valid orders of their own, as order_ids and as
// messages keyed apart (so that they spread over the partitions).
func replayable(n int) (map[string]bool, []kafka.Message) {
	set := map[string]bool{}
	var msgs []kafka.Message
	for i := range n {
		id := "replay-" + strconv.Itoa(i)
		set[id] = true
		msgs = append(msgs, kafka.Message{Key: []byte("anon-" + id), Value: []byte(`{"type":"track","event":"Order Completed","userId":"user-` + id +
			`","messageId":"msg-` + id + `","properties":{"cart_id":"cart-` + id + `","order_id":"` + id + `","currency":"USD","products":[{"sku":"A","price":1}]}}`)})
	}
	return set, msgs
}

// produceMore writes msgs, the valid orders in set, to the source topic and
// counts them in w.
func produceMore(w *harness.World, set map[string]bool, msgs []kafka.Message) error {
	kw := &kafka.Writer{Addr: kafka.TCP(w.Broker.Addr()), Topic: harness.Topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond}
	defer kw.Close()
	if err := kw.WriteMessages(context.Background(), msgs...); err != nil {
		return err
	}
	for id := range set {
		w.Valid[id] = true
	}
	w.Events += len(msgs)
	w.Messages += len(msgs)
	return nil
}

// deadLettered counts the dead letters of the orders in set.
func deadLettered(ctx context.Context, w *harness.World, set map[string]bool) (int, error) {
	dls, err := w.DeadLetters(ctx)
	n := 0
	for _, d := range dls {
		if set[d.OrderID] {
			n++
		}
	}
	return n, err
}

var summaryCount = regexp.MustCompile(`(delivered|skipped as already sent|repeated|still invalid|failed again) (\d+)`)

// replaySummary reads the counts of replay's summary line.
func replaySummary(out string) (map[string]int, error) {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "replayed ") {
			continue
		}
		sum := map[string]int{}
		for _, m := range summaryCount.FindAllStringSubmatch(line, -1) {
			sum[m[1]], _ = strconv.Atoi(m[2])
		}
		return sum, nil
	}
	return nil, fmt.Errorf("no summary in replay's output:\n%s", tail(out))
}
