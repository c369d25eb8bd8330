package deadletter_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
)

func size(m kafka.Message) int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

func TestABoundRecordFitsAndSaysWhatWasCut(t *testing.T) {
	problems := make([]mapping.Problem, 20000)
	for i := range problems {
		problems[i] = mapping.Problem{Field: "properties.products[" + strings.Repeat("9", 5) + "].price", Reason: "must be a number, got string"}
	}
	d := deadletter.Record{Reason: deadletter.ReasonInvalid, Value: bytes.Repeat([]byte("x"), 1<<20), Problems: problems,
		Topic: "events", Partition: 3, Offset: 42, Body: strings.Repeat("b", 10000), FirstFailure: time.Now()}
	b := d.Bound(100 << 10)
	m := b.Message()
	if n := size(m); n > 100<<10 {
		t.Fatalf("bounded record is %d bytes, over 100 KiB", n)
	}
	if len(b.Problems) != deadletter.DefaultMaxProblems || !strings.Contains(b.Problems[len(b.Problems)-1].Reason, "more problems") {
		t.Errorf("problems not summarised: %d kept, last %+v", len(b.Problems), b.Problems[len(b.Problems)-1])
	}
	back, err := deadletter.Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	if back.ValueBytes != 1<<20 || len(back.Value) == 0 || back.Offset != 42 || back.Partition != 3 {
		t.Errorf("cut record: value %d of %d bytes, source %d/%d", len(back.Value), back.ValueBytes, back.Partition, back.Offset)
	}
	small := deadletter.Record{Reason: deadletter.ReasonMalformed, Value: []byte("x")}
	if got := small.Bound(0); got.ValueBytes != 0 || string(got.Value) != "x" {
		t.Errorf("a record that fits was changed: %+v", got)
	}
}

// A topic whose max.message.bytes is below the record's bound refuses the
// record: it is written in its smallest form at once, not retried forever.
func TestARecordTheTopicRefusesIsWrittenInItsSmallestForm(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Options{MaxMessageBytes: 64 << 10, Topics: []broker.Topic{{Name: "dlq", Partitions: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := deadletter.NewKafka([]string{b.Addr()}, "dlq", nil)
	defer w.Close()
	d := deadletter.Record{Reason: deadletter.ReasonMalformed, Value: bytes.Repeat([]byte("y"), 500<<10),
		Problems: []mapping.Problem{{Reason: "not a JSON object"}}, Topic: "events", Partition: 1, Offset: 7, FirstFailure: time.Now()}
	if err := w.Write(ctx, d); err != nil {
		t.Fatalf("write: %v", err)
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr()}, Topic: "dlq", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer rd.Close()
	m, err := rd.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := deadletter.Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Value) != 0 || got.Omitted == "" || got.ValueBytes != 500<<10 || got.Offset != 7 || got.Reason != deadletter.ReasonMalformed {
		t.Errorf("smallest form: %+v", got)
	}
}
