package journal_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/pipeline"
)

// The ring takes memory as entries come, not all at once: reading while it
// grows, and once it wraps, gives the same entries as a full one.
func TestRingGrowsAsUsed(t *testing.T) {
	j := journal.New(journal.Options{Size: 200})
	for i := 1; i <= 150; i++ {
		j.Add(journal.Entry{OrderID: fmt.Sprint(i), Outcome: "delivered"})
	}
	if got, lost := j.After(0, 1000); lost != 0 || len(got) != 150 || got[0].OrderID != "1" || got[149].OrderID != "150" {
		t.Fatalf("after 150 of 200: lost %d, %d entries from %v", lost, len(got), ids(got[:1]))
	}
	for i := 151; i <= 450; i++ {
		j.Add(journal.Entry{OrderID: fmt.Sprint(i), Outcome: "delivered"})
	}
	got, lost := j.After(0, 1000)
	if lost != 250 || len(got) != 200 || got[0].OrderID != "251" || got[199].OrderID != "450" {
		t.Fatalf("after 450 of 200: lost %d, %d entries, first %v", lost, len(got), ids(got[:1]))
	}
	if j.Size() != 200 {
		t.Fatalf("Size %d, want 200", j.Size())
	}
}

func TestRingKeepsTheNewestAndCountsWhatWasLost(t *testing.T) {
	j := journal.New(journal.Options{Size: 4})
	for i := 1; i <= 6; i++ {
		if seq := j.Add(journal.Entry{OrderID: fmt.Sprint(i), Outcome: "delivered"}); seq != uint64(i) {
			t.Fatalf("entry %d got seq %d", i, seq)
		}
	}
	if n := j.Next(); n != 7 {
		t.Errorf("Next %d, want 7", n)
	}
	got, lost := j.After(0, 100)
	if lost != 2 || len(got) != 4 || got[0].OrderID != "3" || got[3].OrderID != "6" {
		t.Errorf("After(0): lost %d, entries %v; want 2 lost and orders 3..6", lost, ids(got))
	}
	got, lost = j.After(4, 1)
	if lost != 0 || len(got) != 1 || got[0].Seq != 5 {
		t.Errorf("After(4, 1): lost %d, %v; want entry 5", lost, ids(got))
	}
	if got, _ := j.After(6, 10); len(got) != 0 {
		t.Errorf("After(6): %v, want nothing", ids(got))
	}
	last, next := j.Last(2, journal.Filter{})
	if next != 7 || len(last) != 2 || last[0].OrderID != "5" || last[1].OrderID != "6" {
		t.Errorf("Last(2): %v next %d; want 5, 6 and 7", ids(last), next)
	}
	if all, _ := j.Last(-1, journal.Filter{}); len(all) != 4 {
		t.Errorf("Last(-1): %v, want the 4 kept", ids(all))
	}
	if e := j.Find("6"); len(e) != 1 || e[0].Seq != 6 {
		t.Errorf("Find(6): %+v", e)
	}
	if e := j.Find("1"); len(e) != 0 {
		t.Errorf("Find(1) after it was overwritten: %+v", e)
	}
}

func ids(es []journal.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.OrderID)
	}
	return out
}

func TestFilter(t *testing.T) {
	j := journal.New(journal.Options{})
	j.Add(journal.Entry{OrderID: "a", Outcome: "delivered"})
	j.Add(journal.Entry{OrderID: "b", Outcome: "rejected", DeadLettered: true})
	j.Add(journal.Entry{OrderID: "a", Outcome: "skipped"})
	j.Add(journal.Entry{Outcome: "malformed", DeadLettered: true})
	for _, c := range []struct {
		f    journal.Filter
		want string
	}{
		{journal.Filter{}, "a b a "},
		{journal.Filter{OrderIDs: []string{"a"}}, "a a"},
		{journal.Filter{Outcomes: []string{"delivered", "rejected"}}, "a b"},
		{journal.Filter{Outcomes: []string{"dead_lettered"}}, "b "},
		{journal.Filter{OrderIDs: []string{"a"}, Outcomes: []string{"skipped"}}, "a"},
	} {
		got, _ := j.Last(-1, c.f)
		if s := strings.Join(ids(got), " "); s != c.want {
			t.Errorf("%+v: %q, want %q", c.f, s, c.want)
		}
	}
}

func TestEmailsAreMaskedUnlessPIIAndSecretsAlways(t *testing.T) {
	secret := "sec_0123456789"
	body := `{"error":"customer jane.doe@example.com unknown","key":"` + secret + `"}`
	masked := journal.New(journal.Options{Secrets: []string{secret, "abc"}})
	masked.Add(journal.Entry{OrderID: "x@example.com", Outcome: "rejected", Body: body, Reason: "email jane%40example.com invalid"})
	e, _ := masked.Last(1, journal.Filter{})
	b, _ := json.Marshal(e)
	for _, leak := range []string{"jane", "x@example.com", secret} {
		if strings.Contains(string(b), leak) {
			t.Errorf("entry shows %q: %s", leak, b)
		}
	}
	if !strings.Contains(e[0].Body, journal.MaskedEmail) || !strings.Contains(e[0].Body, journal.MaskedSecret) {
		t.Errorf("body not masked as expected: %s", e[0].Body)
	}

	pii := journal.New(journal.Options{PII: true, Secrets: []string{secret}})
	pii.Add(journal.Entry{OrderID: "o1", Outcome: "rejected", Body: body})
	e, _ = pii.Last(1, journal.Filter{})
	if !strings.Contains(e[0].Body, "jane.doe@example.com") || strings.Contains(e[0].Body, secret) {
		t.Errorf("with PII: want the email and never the secret: %s", e[0].Body)
	}
}

func TestBodyIsCutAtARuneBoundary(t *testing.T) {
	j := journal.New(journal.Options{BodyMax: 5})
	j.Add(journal.Entry{Outcome: "rejected", Body: "abcdé€xyz"})
	e, _ := j.Last(1, journal.Filter{})
	if e[0].Body != "abcd…" {
		t.Errorf("body %q, want %q", e[0].Body, "abcd…")
	}
}

func TestMaskerJSON(t *testing.T) {
	m := journal.NewMasker(false, nil)
	in := `{"context":{"traits":{"email":"a@b.co","name":"Jane Doe"},"ip":"1.2.3.4"},"properties":{"products":[{"name":"Mug","note":"for a@b.co"}],"total":19.990}}`
	out := string(m.JSON([]byte(in)))
	for _, leak := range []string{"a@b.co", "Jane", "1.2.3.4"} {
		if strings.Contains(out, leak) {
			t.Errorf("masked JSON shows %q: %s", leak, out)
		}
	}
	for _, keep := range []string{`"Mug"`, `19.990`, `"for [email]"`} {
		if !strings.Contains(out, keep) {
			t.Errorf("masked JSON lost %s: %s", keep, out)
		}
	}
	if got := string(m.JSON([]byte("not json a@b.co"))); got != "not json [email]" {
		t.Errorf("text that is not JSON: %q", got)
	}
	if got := string(journal.NewMasker(true, nil).JSON([]byte(in))); !strings.Contains(got, "Jane Doe") {
		t.Errorf("with PII the document keeps its data: %s", got)
	}
}

func TestSettledKeepsTheSettlement(t *testing.T) {
	j := journal.New(journal.Options{})
	var pj pipeline.Journal = j
	now := time.Now()
	pj.Settled(pipeline.Settlement{Time: now, Outcome: "rejected", DeadLettered: true, OrderID: "1042", Status: 422, Attempts: 1,
		Latency: 1500 * time.Microsecond, Body: `{"errors":["bad"]}`, Reason: "cart_id: missing", TraceID: "abc", Partition: 3, Offset: 99})
	e := j.Find("1042")
	if len(e) != 1 {
		t.Fatalf("Find: %+v", e)
	}
	want := journal.Entry{Seq: 1, Time: now, OrderID: "1042", Outcome: "rejected", DeadLettered: true, Status: 422, Attempts: 1,
		LatencyMS: 1.5, Body: `{"errors":["bad"]}`, Reason: "cart_id: missing", TraceID: "abc", Partition: 3, Offset: 99}
	if e[0] != want {
		t.Errorf("entry\n %+v\nwant\n %+v", e[0], want)
	}
}

// Writers and readers at once, under the race detector: every entry is
// read once, in order, by a subscriber that reads as it is signalled.
func TestConcurrentAddAndFollow(t *testing.T) {
	const writers, each = 8, 500
	j := journal.New(journal.Options{Size: writers * each})
	wake, stop := j.Subscribe()
	defer stop()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				j.Add(journal.Entry{OrderID: fmt.Sprintf("%d-%d", w, i), Outcome: "delivered"})
			}
		}()
	}
	var cursor uint64
	deadline := time.After(10 * time.Second)
	for cursor < writers*each {
		got, lost := j.After(cursor, 100)
		if lost != 0 {
			t.Fatalf("lost %d", lost)
		}
		for _, e := range got {
			if e.Seq != cursor+1 {
				t.Fatalf("seq %d after %d", e.Seq, cursor)
			}
			cursor = e.Seq
		}
		if len(got) == 100 || cursor == writers*each {
			continue
		}
		select { // caught up: wait for the next signal
		case <-wake:
		case <-deadline:
			t.Fatalf("read %d of %d entries", cursor, writers*each)
		}
	}
	wg.Wait()
}
