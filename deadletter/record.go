// Package deadletter is the one dead-letter record format and its writer.
// A dead-letter record is one event that cannot be delivered, as the source's
// bytes plus headers that say why; the pipeline writes them, replay reads them
// back, and the demo counts them.
package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Reasons a record is dead-lettered; the dead-letter header "reason" holds one.
const (
	ReasonInvalid   = "invalid"   // the order failed the mapping's validation
	ReasonMalformed = "malformed" // the event is not a readable JSON event
	ReasonIdentity  = "identity"  // an identify, alias or delete that names nobody
	ReasonRejected  = "rejected"  // Refersion refused the order for good (400, 404, 422, error body)
	// ReasonUndelivered marks an order Refersion kept failing (5xx,
	// timeouts) while accepting the others (a poison order), or that a
	// replay could not deliver.
	ReasonUndelivered = "undelivered"
	// ReasonPanic marks an event whose handling panicked: a defect of the
	// relay, kept so that the event can be replayed once it is fixed.
	ReasonPanic = "panic"
	// ReasonRefundBeforeOrder marks a refund or cancellation whose order
	// was never delivered (never seen, invalid, still failing): replay it
	// once the order is through.
	ReasonRefundBeforeOrder = "refund_before_order"
	// ReasonAmountOnly marks a refund of an amount less than the order's
	// items that names no items: it cannot be said per item.
	ReasonAmountOnly = "amount_only_refund"
	// ReasonConflict marks an order whose order_id was delivered before
	// with different content (cart_id, totals, currency or items): it was
	// not sent, since Refersion would credit the order_id twice. The
	// record's problem names both versions' totals (failure.Conflict).
	ReasonConflict = "conflict"
)

// Record is one event that cannot be delivered, with why.
type Record struct {
	Value        []byte // the original event (one event, even from a batch envelope)
	Key          []byte // the source message's key
	Reason       string // one of the Reason constants
	Problems     []mapping.Problem
	Status       int    // HTTP status of a rejection
	Body         string // bounded excerpt of the rejection's body
	Attempts     int    // delivery attempts so far (replays raise it)
	FirstFailure time.Time
	OrderID      string
	MessageID    string
	// Account is the Refersion account of the order or cancel (several
	// accounts; ACCOUNTS_FILE), "" with one account.
	Account string
	// Customer is what enrichment found for an order that reached
	// Refersion (rejected, undelivered): replay falls back to it when the
	// identity store no longer knows the person. Personal data.
	Customer  *mapping.Customer
	Topic     string
	Partition int
	Offset    int64
	// ValueBytes is the event's full size when Value was cut to fit (0
	// when Value is whole); Omitted says why a record is in its smallest
	// form (see Minimal).
	ValueBytes int
	Omitted    string
	Index      int // position of the event inside its message (several values, batch envelopes); 0 for the first
}

// Writer stores dead letters durably. Write returns nil only once the
// record is acknowledged; the caller retries on error and never treats the
// event as done before that.
type Writer interface {
	Write(ctx context.Context, d Record) error
}

// Header names of a dead-letter record.
const (
	HeaderReason       = "refersion-relay.reason"
	HeaderProblems     = "refersion-relay.problems"
	HeaderStatus       = "refersion-relay.http-status"
	HeaderBody         = "refersion-relay.http-body"
	HeaderAttempts     = "refersion-relay.attempts"
	HeaderFirstFailure = "refersion-relay.first-failure"
	HeaderOrderID      = "refersion-relay.order-id"
	HeaderMessageID    = "refersion-relay.message-id"
	HeaderTopic        = "refersion-relay.source-topic"
	HeaderPartition    = "refersion-relay.source-partition"
	HeaderOffset       = "refersion-relay.source-offset"
	HeaderIndex        = "refersion-relay.batch-index"
	HeaderCustomer     = "refersion-relay.customer"
	HeaderAccount      = "refersion-relay.account"
)

// Message encodes d as a Kafka message for the dead-letter topic.
func (d Record) Message() kafka.Message {
	h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
	m := kafka.Message{Key: d.Key, Value: d.Value, Headers: []kafka.Header{
		h(HeaderReason, d.Reason),
		h(HeaderAttempts, strconv.Itoa(d.Attempts)),
		h(HeaderFirstFailure, d.FirstFailure.UTC().Format(time.RFC3339Nano)),
		h(HeaderTopic, d.Topic),
		h(HeaderPartition, strconv.Itoa(d.Partition)),
		h(HeaderOffset, strconv.FormatInt(d.Offset, 10)),
		h(HeaderIndex, strconv.Itoa(d.Index)),
	}}
	if len(d.Problems) > 0 {
		b, _ := json.Marshal(d.Problems)
		m.Headers = append(m.Headers, kafka.Header{Key: HeaderProblems, Value: b})
	}
	if d.Status != 0 {
		m.Headers = append(m.Headers, h(HeaderStatus, strconv.Itoa(d.Status)))
	}
	if d.Body != "" {
		m.Headers = append(m.Headers, h(HeaderBody, d.Body))
	}
	if d.OrderID != "" {
		m.Headers = append(m.Headers, h(HeaderOrderID, d.OrderID))
	}
	if d.MessageID != "" {
		m.Headers = append(m.Headers, h(HeaderMessageID, d.MessageID))
	}
	if d.Customer != nil {
		b, _ := json.Marshal(d.Customer)
		m.Headers = append(m.Headers, kafka.Header{Key: HeaderCustomer, Value: b})
	}
	if d.ValueBytes != 0 {
		m.Headers = append(m.Headers, h(HeaderValueBytes, strconv.Itoa(d.ValueBytes)))
	}
	if d.Omitted != "" {
		m.Headers = append(m.Headers, h(HeaderOmitted, d.Omitted))
	}
	if d.Account != "" {
		m.Headers = append(m.Headers, h(HeaderAccount, d.Account))
	}
	return m
}

// Parse decodes a dead-letter topic message written by Message.
func Parse(m kafka.Message) (Record, error) {
	d := Record{Value: m.Value, Key: m.Key}
	var err error
	for _, h := range m.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderReason:
			d.Reason = v
		case HeaderProblems:
			err = json.Unmarshal(h.Value, &d.Problems)
		case HeaderStatus:
			d.Status, err = strconv.Atoi(v)
		case HeaderBody:
			d.Body = v
		case HeaderAttempts:
			d.Attempts, err = strconv.Atoi(v)
		case HeaderFirstFailure:
			d.FirstFailure, err = time.Parse(time.RFC3339Nano, v)
		case HeaderOrderID:
			d.OrderID = v
		case HeaderMessageID:
			d.MessageID = v
		case HeaderTopic:
			d.Topic = v
		case HeaderPartition:
			d.Partition, err = strconv.Atoi(v)
		case HeaderOffset:
			d.Offset, err = strconv.ParseInt(v, 10, 64)
		case HeaderIndex:
			d.Index, err = strconv.Atoi(v)
		case HeaderValueBytes:
			d.ValueBytes, err = strconv.Atoi(v)
		case HeaderOmitted:
			d.Omitted = v
		case HeaderAccount:
			d.Account = v
		case HeaderCustomer:
			d.Customer = &mapping.Customer{}
			err = json.Unmarshal(h.Value, d.Customer)
		}
		if err != nil {
			return d, fmt.Errorf("dead-letter header %s: %w", h.Key, err)
		}
	}
	if d.Reason == "" {
		return d, fmt.Errorf("not a dead-letter record: header %s is missing", HeaderReason)
	}
	return d, nil
}
