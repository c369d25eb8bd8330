package mapping

import (
	"strings"
)

// Problem is one reason an order cannot be sent: the source field path
// (e.g. properties.products[0].price) and what is wrong, in words a person can act on.
type Problem struct {
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// InvalidError is returned by Map for an order that must not reach Refersion.
// It lists every problem of the order at once.
type InvalidError struct {
	MessageID string    `json:"message_id,omitempty"`
	OrderID   string    `json:"order_id,omitempty"`
	Problems  []Problem `json:"problems"`
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid order")
	if e.OrderID != "" {
		b.WriteString(" ")
		b.WriteString(e.OrderID)
	}
	b.WriteString(": ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Field != "" {
			b.WriteString(p.Field)
			b.WriteString(": ")
		}
		b.WriteString(p.Reason)
	}
	return b.String()
}

// problems collects Problems for one event.
type problems []Problem

func (ps *problems) add(field, reason string) {
	*ps = append(*ps, Problem{Field: field, Reason: reason})
}
