package mapping

import (
	"bytes"
	"strconv"

	"github.com/buger/jsonparser"
)

// Kind is what an event means to the relay.
type Kind uint8

// The kinds of event. Dropped events carry a DropReason.
const (
	KindDropped   Kind = iota // not for Refersion: counted and committed
	KindOrder                 // a track event whose name is an order event
	KindIdentify              // updates the identity store
	KindAlias                 // links previousId to userId in the identity store
	KindDelete                // erases a person from the identity store
	KindMalformed             // not a JSON object, or no type: dead-lettered
	KindRefund                // a track event whose name is a refund event
	KindCancel                // a track event whose name is a cancellation event
)

var kindNames = [...]string{"dropped", "order", "identify", "alias", "delete", "malformed", "refund", "cancel"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// DropReason says why a Dropped event was dropped.
type DropReason uint8

// Reasons for dropping an event.
const (
	NotDropped  DropReason = iota
	DropTrack              // a track event that is not an order event
	DropPage               // page
	DropScreen             // screen
	DropGroup              // group
	DropUnknown            // a type outside the Segment spec
)

var dropNames = [...]string{"", "track", "page", "screen", "group", "unknown_type"}

func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return "unknown"
}

// DropReasons lists every DropReason, for metrics that pre-register their labels.
var DropReasons = []DropReason{DropTrack, DropPage, DropScreen, DropGroup, DropUnknown}

// Class is the result of classifying one event.
type Class struct {
	Kind Kind
	Drop DropReason // set when Kind is KindDropped
	// Problem explains a Malformed event.
	Problem string
}

// scanTop reads the top-level type, event and batch members of an object
// without decoding anything else, and stops as soon as it has type (and, for
// track, event). ok is false when the part it read is not well-formed JSON.
func scanTop(data []byte) (typ, event, batch []byte, batchType jsonparser.ValueType, ok bool) {
	it := newMembers(data)
	typ, event, batch, batchType = scanMembers(&it)
	return typ, event, batch, batchType, !it.err
}

// scanTopEnd is scanTop for an object that may be followed by more data (the
// next value of a message). end is the index just past the object; ok is
// false when the object is not well-formed JSON. Past the members scanTop
// needs, it only matches brackets and strings to find the end.
func scanTopEnd(data []byte) (typ, event, batch []byte, batchType jsonparser.ValueType, end int, ok bool) {
	it := newMembers(data)
	it.trailing = true
	typ, event, batch, batchType = scanMembers(&it)
	switch {
	case it.err:
		return typ, event, batch, batchType, 0, false
	case it.i < 0: // read to the closing brace
		return typ, event, batch, batchType, it.end, true
	}
	end = blockEndFrom(data, it.i, 1)
	return typ, event, batch, batchType, end, end > 0
}

func scanMembers(it *members) (typ, event, batch []byte, batchType jsonparser.ValueType) {
	for it.next() {
		switch {
		case it.vt == jsonparser.String && it.keyIs("type"):
			typ = it.val
		case it.vt == jsonparser.String && it.keyIs("event"):
			event = it.val
		case it.keyIs("batch"):
			batch, batchType = it.val, it.vt
		}
		if typ != nil && (event != nil || string(typ) != "track") && bytes.IndexByte(typ, '\\') < 0 {
			// Enough to classify: the rest of a dropped event is not read,
			// and Map reads an order in full.
			return typ, event, nil, jsonparser.NotExist
		}
	}
	return typ, event, batch, batchType
}

// Classify says what one event is. It reads only the top-level type and event
// members; a dropped event costs no decoding and no allocation.
func (m *Mapper) Classify(ev []byte) Class {
	typ, event, _, _, ok := scanTop(ev)
	if !ok {
		return malformed(ev)
	}
	return m.classify(typ, event)
}

func (m *Mapper) classify(typ, event []byte) Class {
	if bytes.IndexByte(typ, '\\') >= 0 {
		typ = unescape(typ)
	}
	switch string(typ) {
	case "track":
		if bytes.IndexByte(event, '\\') >= 0 {
			event = unescape(event)
		}
		for _, name := range m.orderEvents {
			if bytes.Equal(event, name) {
				return Class{Kind: KindOrder}
			}
		}
		for _, name := range m.refundEvents {
			if bytes.Equal(event, name) {
				return Class{Kind: KindRefund}
			}
		}
		for _, name := range m.cancelEvents {
			if bytes.Equal(event, name) {
				return Class{Kind: KindCancel}
			}
		}
		return Class{Kind: KindDropped, Drop: DropTrack}
	case "identify":
		return Class{Kind: KindIdentify}
	case "alias":
		return Class{Kind: KindAlias}
	case "delete":
		return Class{Kind: KindDelete}
	case "page":
		return Class{Kind: KindDropped, Drop: DropPage}
	case "screen":
		return Class{Kind: KindDropped, Drop: DropScreen}
	case "group":
		return Class{Kind: KindDropped, Drop: DropGroup}
	case "":
		return Class{Kind: KindMalformed, Problem: "type: missing; every Segment event needs a type (track, identify, page, ...)"}
	}
	return Class{Kind: KindDropped, Drop: DropUnknown}
}

// malformed classifies bytes that are not a well-formed JSON object.
func malformed(b []byte) Class {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) > 0 && t[0] == '{' {
		return Class{Kind: KindMalformed, Problem: "not well-formed JSON (truncated, or broken quoting or brackets)"}
	}
	return Class{Kind: KindMalformed, Problem: "not a JSON object"}
}

func unescape(b []byte) []byte {
	s, err := jsonparser.ParseString(b)
	if err != nil {
		return b
	}
	return []byte(s)
}

// Split calls fn for each event of one message, in order. A message holds one
// or more JSON values (NDJSON, or values simply written one after another);
// each object is an event, or a batch envelope {"batch":[...]} whose elements
// are events. index is the event's position in the message, counting every
// value and batch element from 0. fn returning false stops the walk.
//
// Nothing in a message is skipped silently: a value that is not an object, a
// batch element that is not one, bytes that are not JSON (trailing junk, a
// truncated value: everything from there to the end) and a message with no
// value at all are each passed to fn as one event of KindMalformed.
func (m *Mapper) Split(msg []byte, fn func(index int, ev []byte, c Class) bool) {
	i := skipWS(msg, 0)
	if i == len(msg) {
		fn(0, msg, Class{Kind: KindMalformed, Problem: "empty message: no JSON value"})
		return
	}
	index := 0
	for i < len(msg) {
		if msg[i] == '{' {
			typ, event, batch, batchType, end, ok := scanTopEnd(msg[i:])
			if !ok {
				rest := msg[i:]
				c := malformed(rest)
				if index > 0 {
					c.Problem = "bytes after event " + strconv.Itoa(index-1) + ": " + c.Problem
				}
				fn(index, rest, c)
				return
			}
			if !m.splitObject(msg[i:i+end], typ, event, batch, batchType, &index, fn) {
				return
			}
			i = skipWS(msg, i+end)
			continue
		}
		_, vt, after := scanValue(msg, i)
		if after < 0 {
			rest := msg[i:]
			c := malformed(rest)
			if index > 0 {
				c.Problem = "bytes after event " + strconv.Itoa(index-1) + ": " + c.Problem
			}
			fn(index, rest, c)
			return
		}
		_ = vt // not an object: objects are read above
		if !fn(index, msg[i:after], Class{Kind: KindMalformed, Problem: "not a JSON object"}) {
			return
		}
		index++
		i = skipWS(msg, after)
	}
}

// splitObject passes one top-level object, as scanTopEnd read it, to fn: the
// event itself, or each element of a batch envelope. It returns false when fn
// did.
func (m *Mapper) splitObject(obj, typ, event, batch []byte, batchType jsonparser.ValueType, index *int, fn func(index int, ev []byte, c Class) bool) bool {
	next := func(ev []byte, c Class) bool {
		i := *index
		*index = i + 1
		return fn(i, ev, c)
	}
	switch {
	case typ != nil || batch == nil:
		return next(obj, m.classify(typ, event))
	case batchType != jsonparser.Array:
		return next(obj, Class{Kind: KindMalformed, Problem: "batch: not an array of events"})
	}
	it := newElements(batch)
	n := 0
	for ; it.next(); n++ {
		c := Class{Kind: KindMalformed, Problem: "batch element: not a JSON object"}
		if it.vt == jsonparser.Object {
			c = m.Classify(it.val)
		}
		if !next(it.val, c) {
			return false
		}
	}
	if it.err {
		return next(batch, Class{Kind: KindMalformed, Problem: "batch: element " + strconv.Itoa(n) + " is not well-formed JSON"})
	}
	return true
}
