// Package replay re-sends orders that failed: from the dead-letter topic, from
// a file, or from a time window of the source topic. Every replayed event goes
// through the current mapping, the same sink stack and the sent-order store,
// so an order already delivered is skipped and replaying twice is harmless.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// Record is one replayable item: an event (or batch envelope) and, for
// dead-letter records, why it failed.
type Record struct {
	Event []byte
	// DeadLetter is set for records of the dead-letter topic or of an export.
	DeadLetter *deadletter.Record
	// Time is the Kafka message time, or the first failure of an exported
	// record; zero when unknown.
	Time time.Time
}

// Source yields records in order, up to its end as of when it was opened.
type Source interface {
	// Total is the number of records the source will yield, or -1 if unknown.
	Total() int
	// Each calls fn for every record until the end, an error, or ctx ends.
	Each(ctx context.Context, fn func(Record) error) error
}

// Exported is the NDJSON form of a dead-letter record written by --export
// and read back by --file.
type Exported struct {
	Reason       string            `json:"reason"`
	Problems     json.RawMessage   `json:"problems,omitempty"`
	Status       int               `json:"status,omitempty"`
	Body         string            `json:"body,omitempty"`
	Attempts     int               `json:"attempts"`
	FirstFailure time.Time         `json:"first_failure"`
	OrderID      string            `json:"order_id,omitempty"`
	MessageID    string            `json:"message_id,omitempty"`
	Topic        string            `json:"source_topic"`
	Partition    int               `json:"source_partition"`
	Offset       int64             `json:"source_offset"`
	Index        int               `json:"batch_index"`
	Customer     *mapping.Customer `json:"customer,omitempty"`
	Event        json.RawMessage   `json:"event"`
}

// Export returns the exported form of d.
func Export(d deadletter.Record) Exported {
	e := Exported{
		Reason: d.Reason, Status: d.Status, Body: d.Body, Attempts: d.Attempts, FirstFailure: d.FirstFailure,
		OrderID: d.OrderID, MessageID: d.MessageID, Topic: d.Topic, Partition: d.Partition, Offset: d.Offset, Index: d.Index,
		Event: d.Value, Customer: d.Customer,
	}
	if len(d.Problems) > 0 {
		e.Problems, _ = json.Marshal(d.Problems)
	}
	if !json.Valid(d.Value) { // a malformed event is kept as a JSON string
		e.Event, _ = json.Marshal(string(d.Value))
	}
	return e
}

func (e Exported) deadLetter() (deadletter.Record, error) {
	d := deadletter.Record{
		Value: e.Event, Reason: e.Reason, Status: e.Status, Body: e.Body, Attempts: e.Attempts, FirstFailure: e.FirstFailure,
		OrderID: e.OrderID, MessageID: e.MessageID, Topic: e.Topic, Partition: e.Partition, Offset: e.Offset, Index: e.Index,
		Customer: e.Customer,
	}
	var s string
	if json.Unmarshal(e.Event, &s) == nil {
		d.Value = []byte(s)
	}
	if len(e.Problems) > 0 {
		if err := json.Unmarshal(e.Problems, &d.Problems); err != nil {
			return d, fmt.Errorf("problems: %w", err)
		}
	}
	return d, nil
}

// FileSource reads NDJSON: each line is an event (or batch envelope), or a
// dead-letter record in the Exported form.
type FileSource struct {
	r     io.Reader
	lines int
}

// NewFileSource reads from r; lines is the line count for progress, or -1.
func NewFileSource(r io.Reader, lines int) *FileSource { return &FileSource{r: r, lines: lines} }

// Total implements Source.
func (f *FileSource) Total() int { return f.lines }

// Each implements Source. A line that is not an exported record is an event
// (or several, or bytes that are not JSON): the processor decides what it is,
// as the relay would have. An exported record that cannot be read fails the
// read with its line number.
func (f *FileSource) Each(ctx context.Context, fn func(Record) error) error {
	sc := bufio.NewScanner(f.r)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		rec, err := parseLine(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return sc.Err()
}

func parseLine(line []byte) (Record, error) {
	var probe struct {
		Reason *string          `json:"reason"`
		Event  *json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(line, &probe); err != nil || probe.Reason == nil || probe.Event == nil {
		return Record{Event: bytes.Clone(line)}, nil
	}
	var e Exported
	if err := json.Unmarshal(line, &e); err != nil {
		return Record{}, fmt.Errorf("exported dead-letter record: %w", err)
	}
	d, err := e.deadLetter()
	if err != nil {
		return Record{}, err
	}
	return Record{Event: d.Value, DeadLetter: &d, Time: d.FirstFailure}, nil
}
