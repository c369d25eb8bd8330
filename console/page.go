package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// Page sizes.
const (
	recentOutcomes  = 100 // rows of the outcomes table the page starts with
	deadLetterLimit = 200 // newest dead letters listed
	maxEventShown   = 16 << 10
)

// pageData is what console.html renders.
type pageData struct {
	State           State
	Epoch           string
	Seq             uint64 // the newest entry rendered; the live stream resumes after it
	Outcomes        []journal.Entry
	Query           string
	Found           []journal.Entry
	FoundDead       []deadLetterView
	Dead            deadLetterPage
	DeadLetterTopic string
	CanReplay       bool // ADMIN_TOKEN set and a replayer wired
	PII             bool
	JournalSize     int
}

type deadLetterPage struct {
	Records []deadLetterView
	Total   int64
	Missing bool
	Error   string
	Reasons []reasonCount
}

type reasonCount struct {
	Reason string
	Count  int
}

// deadLetterView is one dead letter as the page shows it, masked.
type deadLetterView struct {
	ID                    string
	Time, FirstFailure    time.Time
	Reason                string
	OrderID, MessageID    string
	Status, Attempts      int
	Problems              []mapping.Problem
	Body                  string
	Customer              string
	Event                 string
	EventCut              bool
	Source                string
	Omitted               string
	ValueBytes, EventSize int
}

func (c *Console) view(d DeadLetter) deadLetterView {
	m := c.o.Journal.Masker()
	r := d.Record
	v := deadLetterView{ID: d.ID.String(), Time: d.Time, FirstFailure: r.FirstFailure, Reason: r.Reason,
		OrderID: m.Text(r.OrderID), MessageID: m.Text(r.MessageID), Status: r.Status, Attempts: r.Attempts,
		Body: m.Text(r.Body), Omitted: r.Omitted, ValueBytes: r.ValueBytes, EventSize: len(r.Value),
		Source: fmt.Sprintf("%s partition %d offset %d, event %d", r.Topic, r.Partition, r.Offset, r.Index)}
	for _, p := range r.Problems {
		v.Problems = append(v.Problems, mapping.Problem{Field: p.Field, Reason: m.Text(p.Reason)})
	}
	if r.Customer != nil {
		v.Customer = string(m.Value(r.Customer))
	}
	ev := m.JSON(r.Value)
	var pretty bytes.Buffer
	if json.Indent(&pretty, ev, "", "  ") == nil {
		ev = pretty.Bytes()
	}
	if len(ev) > maxEventShown {
		ev, v.EventCut = ev[:maxEventShown], true
	}
	v.Event = strings.ToValidUTF8(string(ev), "�")
	return v
}

func (c *Console) servePage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	j := c.o.Journal
	d := pageData{State: c.state(ctx), Epoch: j.Epoch(), DeadLetterTopic: c.o.DeadLetterTopic,
		CanReplay: c.o.Token != "" && c.o.Replay != nil && c.o.DeadLetters != nil, PII: j.Masker().PII(), JournalSize: j.Size()}
	var next uint64
	d.Outcomes, next = j.Last(recentOutcomes, journal.Filter{})
	d.Seq = next - 1
	slices.Reverse(d.Outcomes)
	d.Query = strings.TrimSpace(r.URL.Query().Get("order_id"))
	if d.Query != "" {
		d.Found = j.Find(d.Query)
		slices.Reverse(d.Found)
	}
	if c.o.DeadLetters != nil {
		l, err := c.o.DeadLetters.List(ctx, deadLetterLimit)
		if err != nil {
			d.Dead.Error = err.Error()
		}
		d.Dead.Total, d.Dead.Missing = l.Total, l.Missing
		counts := map[string]int{}
		for _, x := range l.Records {
			v := c.view(x)
			d.Dead.Records = append(d.Dead.Records, v)
			counts[v.Reason]++
			if d.Query != "" && x.Record.OrderID == d.Query {
				d.FoundDead = append(d.FoundDead, v)
			}
		}
		for reason, n := range counts {
			d.Dead.Reasons = append(d.Dead.Reasons, reasonCount{reason, n})
		}
		slices.SortFunc(d.Dead.Reasons, func(a, b reasonCount) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return strings.Compare(a.Reason, b.Reason)
		})
	}
	var buf bytes.Buffer
	if err := c.page.Execute(&buf, d); err != nil {
		http.Error(w, "rendering the console: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// outcomeClass is the CSS class of an outcome's row: o-ok, o-bad or o-warn.
func outcomeClass(outcome string, deadLettered bool) string {
	switch {
	case deadLettered, outcome == "unauthorized", outcome == "stopped":
		return "o-bad"
	case outcome == "skipped", outcome == "already_done", outcome == "nothing_to_cancel", outcome == "no_conversion", outcome == "replayed":
		return "o-warn"
	}
	return "o-ok"
}

var funcs = template.FuncMap{
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("15:04:05.000")
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"ms":           func(v float64) string { return fmt.Sprintf("%.1f ms", v) },
	"rate":         func(v float64) string { return fmt.Sprintf("%.1f/s", v) },
	"outcomeClass": outcomeClass,
}
