package mapping_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func page(where, value string) string {
	ctx := `"context":{"page":{"url":"https://shop.example/"}}`
	props := `"properties":{}`
	switch where {
	case "url":
		ctx = `"context":{"page":{"url":"https://shop.example/landing?utm=x&` + value + `#top"}}`
	case "search":
		ctx = `"context":{"page":{"search":"?` + value + `"}}`
	case "properties.url":
		props = `"properties":{"url":"https://shop.example/?` + value + `"}`
	case "properties.search":
		props = `"properties":{"search":"` + value + `"}`
	}
	return `{"type":"page","anonymousId":"anon-1","timestamp":"2026-11-01T10:00:00Z",` + ctx + `,` + props + `}`
}

func TestParseClickReadsRfsnWhereSegmentPutsTheURL(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC).UnixMilli()
	for _, where := range []string{"url", "search", "properties.url", "properties.search"} {
		c, user, anon, st := mapping.ParseClick([]byte(page(where, "rfsn=123456.1234c")))
		if st != mapping.ClickFound || c.AffiliateID != "123456" || c.At != at || anon != "anon-1" || user != "" {
			t.Errorf("%s: %+v %q %q %v", where, c, user, anon, st)
		}
	}
	if c, _, _, st := mapping.ParseClick([]byte(page("url", "rfsn%3D42.ab%26x=1"))); st != mapping.NoClick {
		t.Errorf("an encoded rfsn inside another parameter is no click: %+v %v", c, st)
	}
	if c, _, _, st := mapping.ParseClick([]byte(page("search", "a=1&rfsn=00042.x1%20"))); st != mapping.ClickFound || c.AffiliateID != "42" {
		t.Errorf("percent-encoding and leading zeros: %+v %v", c, st)
	}
	for _, bad := range []string{"rfsn=abc.123", "rfsn=123", "rfsn=123.", "rfsn=.x", "rfsn=12.3$", "rfsn=%zz"} {
		if _, _, _, st := mapping.ParseClick([]byte(page("url", bad))); st != mapping.ClickMalformed {
			t.Errorf("%s: %v, want malformed", bad, st)
		}
	}
	if _, _, _, st := mapping.ParseClick([]byte(page("none", ""))); st != mapping.NoClick || mapping.MayHaveClick([]byte(page("none", ""))) {
		t.Errorf("a page without rfsn: %v", st)
	}
	noTime := strings.Replace(page("url", "rfsn=1.a"), `"timestamp":"2026-11-01T10:00:00Z",`, "", 1)
	if _, _, _, st := mapping.ParseClick([]byte(noTime)); st != mapping.ClickMalformed {
		t.Errorf("a click without a time: %v", st)
	}
}

func TestAnOrderIsCreditedToAClickInsideTheWindow(t *testing.T) {
	ctx := context.Background()
	window := 30 * 24 * time.Hour
	order := func(own string) mapping.Order {
		o := mapping.Order{OrderID: "o", Source: mapping.Source{UserID: "u", AnonymousID: "anon-1", At: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).UnixMilli()}}
		if own != "" {
			o.AutoCreditAffiliateID = []byte(own)
		}
		return o
	}
	ids := memory.NewIdentities(memory.Options{})
	if err := ids.Merge(ctx, "anon-1", mapping.Traits{Click: mapping.Click{AffiliateID: "123456", At: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}}); err != nil {
		t.Fatal(err)
	}
	if err := ids.Link(ctx, "anon-1", "u"); err != nil {
		t.Fatal(err)
	}
	o := order("")
	if c, err := mapping.EnrichClick(ctx, &o, ids, window); err != nil || c != mapping.Credited || string(o.AutoCreditAffiliateID) != "123456" {
		t.Errorf("inside the window: %v %v %s", c, err, o.AutoCreditAffiliateID)
	}
	o = order("999")
	if c, _ := mapping.EnrichClick(ctx, &o, ids, window); c != mapping.OwnCredit || string(o.AutoCreditAffiliateID) != "999" {
		t.Errorf("the order's own id: %v %s", c, o.AutoCreditAffiliateID)
	}
	o = order("")
	if c, _ := mapping.EnrichClick(ctx, &o, ids, 10*24*time.Hour); c != mapping.OutsideWindow || o.AutoCreditAffiliateID != nil {
		t.Errorf("a click 19 days before, window 10 days: %v %s", c, o.AutoCreditAffiliateID)
	}
}
