package deadletter

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Size limits of a record. Kafka refuses a message over the topic's
// max.message.bytes (1 MiB by default, batch overhead included), so a record
// is bounded below it; a topic configured smaller than DefaultMaxBytes gets a
// record's smallest form (see Minimal).
const (
	DefaultMaxBytes    = 900 << 10 // a whole record: key, value and headers
	DefaultMaxProblems = 50        // problems kept; the rest are summarised in one
	minimalBodyBytes   = 256       // response body kept by Minimal
)

// Header names added when a record is cut to fit.
const (
	// HeaderValueBytes holds the event's size in bytes when the value was
	// cut or left out; the whole event stays at its source offset.
	HeaderValueBytes = "refersion-relay.value-bytes"
	// HeaderOmitted says why the record is in its smallest form.
	HeaderOmitted = "refersion-relay.omitted"
)

// Bound returns d cut to fit maxBytes as a Kafka message: problems past
// DefaultMaxProblems are summarised in one, and the value is cut to what
// room is left, with HeaderValueBytes recording its full size. A record that
// fits is returned as it is.
func (d Record) Bound(maxBytes int) Record {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if len(d.Problems) > DefaultMaxProblems {
		kept := append([]mapping.Problem(nil), d.Problems[:DefaultMaxProblems-1]...)
		d.Problems = append(kept, mapping.Problem{Reason: fmt.Sprintf("and %d more problems, not listed: the dead-letter record keeps the first %d",
			len(d.Problems)-len(kept), len(kept))})
	}
	for i, p := range d.Problems { // one problem cannot fill the record either
		if len(p.Reason) > 1024 || len(p.Field) > 256 {
			d.Problems = append([]mapping.Problem(nil), d.Problems...)
			d.Problems[i] = mapping.Problem{Field: cut(p.Field, 256), Reason: cut(p.Reason, 1024)}
		}
	}
	over := size(d.Message()) - maxBytes
	if over <= 0 {
		return d
	}
	full := len(d.Value)
	keep := max(0, full-over-64) // 64: room for the value-bytes header
	d.Value, d.ValueBytes = d.Value[:keep], full
	if size(d.Message()) > maxBytes { // the headers alone are too big
		return d.Minimal("the record would be over " + strconv.Itoa(maxBytes) + " bytes")
	}
	return d
}

// Minimal returns d's smallest form, for a record the topic refuses as it is:
// no value, the reason, the first problem, Refersion's status and a short
// body, and the source coordinates, where the whole event still is. why says
// what was left out and why (HeaderOmitted).
func (d Record) Minimal(why string) Record {
	m := Record{
		Key: nil, Reason: d.Reason, Status: d.Status, Body: cut(d.Body, minimalBodyBytes), Attempts: d.Attempts,
		FirstFailure: d.FirstFailure, OrderID: cut(d.OrderID, 256), MessageID: cut(d.MessageID, 256), Account: d.Account,
		Topic: d.Topic, Partition: d.Partition, Offset: d.Offset, Index: d.Index,
		ValueBytes: max(d.ValueBytes, len(d.Value)), Omitted: cut(why, 512),
	}
	if len(d.Problems) > 0 {
		p := d.Problems[0]
		m.Problems = []mapping.Problem{{Field: cut(p.Field, 256), Reason: cut(p.Reason, 1024)}}
	}
	return m
}

// size is m's size as Kafka counts a record, near enough: key, value and
// every header's key and value.
func size(m kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 64
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}

// cut shortens s to at most n bytes on a UTF-8 boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// refused reports whether err means the topic will never take this record
// as it is (too large, or invalid), so that writing it again is pointless.
func refused(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && refused(e) {
				return true
			}
		}
		return false
	}
	var tooLarge kafka.MessageTooLargeError
	return errors.As(err, &tooLarge) || errors.Is(err, kafka.MessageSizeTooLarge) ||
		errors.Is(err, kafka.RecordListTooLarge) || errors.Is(err, kafka.InvalidMessage) ||
		errors.Is(err, kafka.InvalidRecord)
}

// RefusedError means the dead-letter topic refused even a record's smallest
// form: retrying cannot help. The event is still at its source offset.
type RefusedError struct {
	Topic string
	Err   error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("dead-letter topic %s refuses the record even in its smallest form: %v", e.Topic, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }
