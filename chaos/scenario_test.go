package chaos

import (
	"bytes"
	"context"
	"math/rand"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

// scenario is one row of the reliability table: a stream, a state backend,
// and the faults injected while the relay works through it.
type scenario struct {
	name    string
	backend string // memory, disk or redis
	sandbox sandbox.Options
	bad     bool          // malformed, oversized, deeply nested and invalid UTF-8 messages in the stream
	kills   int           // SIGKILL the relay this many times at random points
	outage  time.Duration // the sandbox is down this long, from the first deliveries on
	redis   bool          // restart redis-server mid-stream (redis backend)
	poison  bool          // one valid order answered 500 every time, the others accepted
	wrong   bool          // first run with a wrong webhook path (404 to everything), then the right one
	huge    bool          // dead letters bigger than the broker takes (20,000 bad products, ~1 MiB of junk)
	replay  bool          // dead-letter a set of orders, then replay them beside the relay delivering them again (driveReplay)
	lose    string        // lose the sent-order store: loseEmptied, loseDir, loseFlushed, loseRunning (driveLost)
	damage  bool          // garbage in sent.db (each start refused), then in identities.db (set aside) (driveDamaged)
	short   bool          // part of the short run CI does
	// known names a bug the row meets today: TestChaos leaves the row out,
	// TestChaosKnown runs it with -chaos.known (and skips it without).
	known string
	// accounts: three accounts fed by one stream, brand-b in trouble:
	// accountsRevoked or accountsOutage (runAccounts).
	accounts string
}

func scenarios(full bool) []scenario {
	outage := 3 * time.Second
	if full {
		outage = 30 * time.Second
	}
	all := []scenario{
		{name: "no faults", backend: "disk", short: true},
		{name: "5xx (20%) and 429 (10%) bursts", backend: "disk", sandbox: sandbox.Options{FailRate: 0.2, ThrottleRate: 0.1}, short: true},
		{name: "outage of " + outage.String(), backend: "disk", outage: outage, short: true},
		{name: "connection resets (20%)", backend: "disk", sandbox: sandbox.Options{ResetRate: 0.2}},
		{name: "2 s responses", backend: "disk", sandbox: sandbox.Options{Latency: 2 * time.Second}},
		{name: "SIGKILL ×3, disk state", backend: "disk", kills: 3, short: true},
		{name: "SIGKILL ×3, memory state", backend: "memory", kills: 3},
		{name: "malformed, oversized, nested, invalid UTF-8", backend: "disk", bad: true, short: true},
		{name: "Redis restart", backend: "redis", redis: true, short: true},
		{name: "a poison order (500 for one order_id only)", backend: "disk", poison: true, short: true},
		{name: "wrong webhook path (404), then fixed", backend: "disk", wrong: true},
		{name: "dead letters over the broker's limit", backend: "disk", huge: true},
		{name: "all of it: 5xx, 429, resets, bad input, SIGKILL ×2", backend: "disk", bad: true, kills: 2,
			sandbox: sandbox.Options{FailRate: 0.1, ThrottleRate: 0.05, ResetRate: 0.1}},
		{name: "replay beside the running relay", backend: "redis", replay: true, short: true},
		{name: "lost store: sent.db emptied (0 bytes)", backend: "disk", lose: loseEmptied, short: true},
		{name: "lost store: state directory deleted", backend: "disk", lose: loseDir},
		{name: "lost store: Redis flushed", backend: "redis", lose: loseFlushed, short: true},
		{name: "lost store: Redis flushed while the relay delivers", backend: "redis", lose: loseRunning,
			sandbox: sandbox.Options{Latency: 100 * time.Millisecond}},
		{name: "damaged store: garbage in sent.db, then in identities.db", backend: "disk", damage: true, short: true},
		{name: "3 accounts, one's keys revoked under load, then fixed (key file + SIGHUP)", backend: "disk", accounts: accountsRevoked},
		{name: "3 accounts, one's Refersion down (503) under load", backend: "disk", accounts: accountsOutage},
	}
	if full {
		return all
	}
	var short []scenario
	for _, s := range all {
		if s.short {
			short = append(short, s)
		}
	}
	return short
}

// badMessages are messages every one of which must be dead-lettered.
func badMessages() [][]byte {
	deep := strings.Repeat(`{"a":`, 50000) + "1" + strings.Repeat("}", 50000)
	oversized := append([]byte(`{"type":"track","event":"Order Completed","properties":{"pad":"`), bytes.Repeat([]byte("x"), 1500000)...)
	oversized = append(oversized, `"}}`...)
	return [][]byte{
		[]byte("not json at all"),
		[]byte(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"truncated`),
		[]byte(`{"type":"track","event":"Order Completed","properties":` + deep + `}`),
		oversized,
		[]byte("{\"type\":\"track\",\"event\":\"Order Completed\",\"properties\":{\"cart_id\":\"\xff\xfe\",\"order_id\":\"bad-utf8\",\"currency\":\"USD\",\"products\":[{\"sku\":\"A\",\"price\":1}]}}"),
		[]byte(`{"batch":[{"type":"page"},42]}`),
		[]byte(`{"type":"identify","traits":{"email":"nobody@example.com"}}`),
	}
}

// killPoints picks when to kill: after these many deliveries, increasing.
func killPoints(rnd *rand.Rand, kills, valid int) []int {
	points := make([]int, kills)
	for i := range points {
		lo := (i + 1) * valid / (kills + 2)
		points[i] = lo + rnd.Intn(max(1, valid/(4*(kills+2))))
	}
	return points
}

// runCtx bounds one scenario.
func runCtx(full bool) (context.Context, context.CancelFunc) {
	limit := 3 * time.Minute
	if full {
		limit = 10 * time.Minute
	}
	return context.WithTimeout(context.Background(), limit)
}

// hugeMessages are messages whose dead letters, as they are, would be over
// the broker's 1 MiB: an invalid order of 20,000 bad products, and junk of
// just under 1 MiB.
func hugeMessages() [][]byte {
	bad := `{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"huge","currency":"USD","products":[` +
		strings.TrimSuffix(strings.Repeat(`{"sku":"A","price":"x"},`, 20000), ",") + `]}}`
	junk := append([]byte(`{"type":"page","x":"`), bytes.Repeat([]byte("z"), 1000000)...)
	return [][]byte{[]byte(bad), junk}
}
