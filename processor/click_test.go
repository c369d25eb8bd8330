package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/mapstream"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/state/redisstore"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
)

var day0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func at(days float64) string {
	return day0.Add(time.Duration(days * float64(24*time.Hour))).Format(time.RFC3339)
}

func landing(anon, user, rfsn string, days float64) string {
	u := ""
	if user != "" {
		u = `"userId":"` + user + `",`
	}
	return `{"type":"page","anonymousId":"` + anon + `",` + u + `"timestamp":"` + at(days) + `","context":{"page":{"url":"https://shop.example/?rfsn=` + rfsn + `"}}}`
}

func clickOrder(id, anon, user, own string, days float64) string {
	credit := ""
	if own != "" {
		credit = `,"auto_credit_affiliate_id":` + own
	}
	return `{"type":"track","event":"Order Completed","anonymousId":"` + anon + `","userId":"` + user + `","timestamp":"` + at(days) +
		`","properties":{"cart_id":"c","order_id":"` + id + `","currency":"USD","products":[{"sku":"A","price":1}]` + credit + `}}`
}

// credits runs msgs through a capturing processor on ids and returns each
// order's auto_credit_affiliate_id ("" for none) and the outcomes.
func credits(t *testing.T, ids store.Identities, msgs ...string) (map[string]string, []processor.Outcome) {
	t.Helper()
	p, err := processor.New(mapping.MustNew(mapping.Options{}), ids, processor.Options{ClickCapture: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var outs []processor.Outcome
	for _, m := range msgs {
		if err := p.Process(context.Background(), []byte(m), func(o processor.Outcome) bool {
			outs = append(outs, o)
			if o.Kind == processor.Order {
				got[o.OrderID] = string(o.Order.AutoCreditAffiliateID)
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return got, outs
}

func TestClickCapture(t *testing.T) {
	mem := func() store.Identities { return memory.NewIdentities(memory.Options{}) }
	t.Run("ClickByAnonymousIDThenOrderByUserIDAfterAlias", func(t *testing.T) {
		got, _ := credits(t, mem(),
			landing("anon-1", "", "123456.abc", 0),
			`{"type":"alias","previousId":"anon-1","userId":"user-1"}`,
			clickOrder("o-1", "", "user-1", "", 2))
		if got["o-1"] != "123456" {
			t.Errorf("credit %q, want 123456", got["o-1"])
		}
	})
	t.Run("TheLastClickWins", func(t *testing.T) {
		got, _ := credits(t, mem(),
			landing("anon-1", "", "111.a", 0), landing("anon-1", "", "222.b", 1), clickOrder("o-1", "anon-1", "", "", 2))
		if got["o-1"] != "222" {
			t.Errorf("credit %q, want 222", got["o-1"])
		}
	})
	t.Run("AClick31DaysBeforeTheOrderDoesNotCredit", func(t *testing.T) {
		got, outs := credits(t, mem(), landing("anon-1", "", "111.a", 0), clickOrder("o-1", "anon-1", "", "", 31))
		if got["o-1"] != "" || outs[1].Credit != mapping.OutsideWindow {
			t.Errorf("credit %q (%v), want none, outside the window", got["o-1"], outs[1].Credit)
		}
	})
	t.Run("TheOrdersOwnIDIsKept", func(t *testing.T) {
		got, _ := credits(t, mem(), landing("anon-1", "", "111.a", 0), clickOrder("o-1", "anon-1", "", "987", 1))
		if got["o-1"] != "987" {
			t.Errorf("credit %q, want the order's own 987", got["o-1"])
		}
	})
	t.Run("AMalformedRfsnIsCountedAndIgnored", func(t *testing.T) {
		got, outs := credits(t, mem(), landing("anon-1", "", "not-an-id", 0), clickOrder("o-1", "anon-1", "", "", 1))
		if got["o-1"] != "" || outs[0].Kind != processor.Dropped || outs[0].Click != mapping.ClickMalformed {
			t.Errorf("credit %q, first outcome %+v", got["o-1"], outs[0])
		}
	})
	t.Run("ForgetThenOrderCreditsNobody", func(t *testing.T) {
		got, _ := credits(t, mem(),
			landing("anon-1", "user-1", "111.a", 0), `{"type":"delete","userId":"user-1"}`, clickOrder("o-1", "anon-1", "user-1", "", 1))
		if got["o-1"] != "" {
			t.Errorf("credit %q after delete, want none", got["o-1"])
		}
	})
	t.Run("OffReadsNoURL", func(t *testing.T) {
		p, _ := processor.New(mapping.MustNew(mapping.Options{}), mem(), processor.Options{})
		var ev processor.Event
		p.Each([]byte(landing("a", "", "1.a", 0)), func(e processor.Event) bool { ev = e; return false })
		if p.Inspects(ev) {
			t.Error("a page is inspected with click capture off")
		}
	})
	t.Run("ClickOnOneReplicaOrderOnTheOther", func(t *testing.T) {
		if testing.Short() {
			t.Skip("needs redis-server")
		}
		srv := statetest.StartRedis(t)
		a := redisstore.NewIdentities(srv.Client(t), redisstore.Options{})
		b := redisstore.NewIdentities(srv.Client(t), redisstore.Options{})
		credits(t, a, landing("anon-9", "", "4242.zz", 0))
		got, _ := credits(t, b, clickOrder("o-9", "anon-9", "", "", 3))
		if got["o-9"] != "4242" {
			t.Errorf("credit %q on the other replica, want 4242", got["o-9"])
		}
	})
}

// The same stream, mapped and replayed, credits the same orders: the
// window is measured in event timestamps, not the wall clock.
func TestTheSameStreamReplayedGivesTheSameCredits(t *testing.T) {
	var lines []string
	for i := range 20 {
		anon := fmt.Sprintf("anon-%d", i)
		lines = append(lines, landing(anon, "", fmt.Sprintf("%d.x", 100+i), float64(i)))
		lines = append(lines, clickOrder(fmt.Sprintf("o-%d", i), anon, "", "", float64(i)+float64(i%3)*20)) // some after 40 days
	}
	stream := strings.Join(lines, "\n")
	newProc := func() *processor.Processor {
		p, _ := processor.New(mapping.MustNew(mapping.Options{}), memory.NewIdentities(memory.Options{}), processor.Options{ClickCapture: true})
		return p
	}
	var mapped bytes.Buffer
	sum, err := mapstream.Run(context.Background(), strings.NewReader(stream), &mapped, newProc(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var dry bytes.Buffer
	rp := &replay.Replayer{Mapper: mapping.MustNew(mapping.Options{}), Sent: memory.NewSent(memory.Options{}),
		Identities: memory.NewIdentities(memory.Options{}), DryRun: true, Out: &dry, Processor: processor.Options{ClickCapture: true}}
	rsum, err := rp.Run(context.Background(), replay.NewFileSource(strings.NewReader(stream), -1), replay.Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := creditedIDs(t, mapped.Bytes(), "order"), creditedIDs(t, dry.Bytes(), "send")
	if len(a) == 0 || len(a) == 20 || fmt.Sprint(a) != fmt.Sprint(b) || sum.Credited != len(a) || rsum.Credited != int64(len(b)) {
		t.Errorf("map credited %v (%d), replay %v (%d)", a, sum.Credited, b, rsum.Credited)
	}
}

func creditedIDs(t *testing.T, out []byte, key string) map[string]string {
	got := map[string]string{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var v map[string]mapping.Order
		if err := json.Unmarshal(line, &v); err != nil {
			continue // invalid lines and the like
		}
		if o, ok := v[key]; ok && len(o.AutoCreditAffiliateID) > 0 {
			got[o.OrderID] = string(o.AutoCreditAffiliateID)
		}
	}
	return got
}
