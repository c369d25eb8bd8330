package console_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/refersion-relay/refersion-relay/console"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
)

// KafkaDeadLetters against a broker: the newest records first, records by
// id in the order asked, and a topic that does not exist yet.
func TestKafkaDeadLetters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	w := harness.StartWorld(t, harness.Options{})
	ctx := context.Background()
	dlq := deadletter.NewKafka([]string{w.Broker.Addr()}, harness.DLQTopic, nil)
	defer dlq.Close()
	for i := range 30 {
		d := deadletter.Record{Reason: deadletter.ReasonInvalid, OrderID: fmt.Sprint("o", i), Value: []byte(`{"type":"track"}`), Attempts: 1}
		if err := dlq.Write(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	k := console.KafkaDeadLetters{Brokers: []string{w.Broker.Addr()}, Topic: harness.DLQTopic}
	l, err := k.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != 30 || l.Missing || len(l.Records) != 10 || l.Records[0].Record.OrderID != "o29" || l.Records[9].Record.OrderID != "o20" {
		t.Errorf("List(10): total %d, missing %v, %d records from %q", l.Total, l.Missing, len(l.Records), l.Records[0].Record.OrderID)
	}
	ids := []console.RecordID{{Partition: 0, Offset: 25}, {Partition: 0, Offset: 3}, {Partition: 0, Offset: 4}, {Partition: 0, Offset: 25}}
	got, err := k.Get(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"o25", "o3", "o4", "o25"} {
		if got[i].Record.OrderID != want || got[i].ID != ids[i] {
			t.Errorf("Get[%d]: %s %q, want %s %s", i, got[i].ID, got[i].Record.OrderID, ids[i], want)
		}
	}
	if _, err := k.Get(ctx, []console.RecordID{{Partition: 0, Offset: 30}}); err == nil {
		t.Error("Get past the end: no error")
	}
	none := console.KafkaDeadLetters{Brokers: []string{w.Broker.Addr()}, Topic: "never-written"}
	if l, err := none.List(ctx, 10); err != nil || !l.Missing {
		t.Errorf("a topic that does not exist: %+v, %v", l, err)
	}
}
