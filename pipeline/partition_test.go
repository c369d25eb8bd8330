package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

// fetchRig is a broker with a one-partition topic and a pipeline pointed at it.
type fetchRig struct {
	t *testing.T
	b *broker.Broker
	p *Pipeline
}

func newFetchRig(t *testing.T) *fetchRig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := broker.Start(ctx, broker.Options{Topics: []broker.Topic{{Name: "events", Partitions: 1}}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(); cancel() })
	p, err := New(Config{Brokers: []string{b.Addr()}, Topic: "events", MaxWait: 50 * time.Millisecond, MaxBytes: 64 << 10},
		mapping.MustNew(mapping.Options{}), noSink{}, memory.NewIdentities(memory.Options{}), noDeadLetters{})
	if err != nil {
		t.Fatal(err)
	}
	return &fetchRig{t: t, b: b, p: p}
}

func (r *fetchRig) produce(msgs ...kafka.Message) {
	r.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(r.b.Addr()), Topic: "events", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		r.t.Fatal(err)
	}
}

// noSink and noDeadLetters are a pipeline's destinations for tests that
// only fetch.
type noSink struct{}

func (noSink) Send(context.Context, mapping.Order) error { return nil }

type noDeadLetters struct{}

func (noDeadLetters) Write(context.Context, deadletter.Record) error { return nil }

// fetch runs f until n messages came, and returns them; during runs once f
// has started.
func (r *fetchRig) fetch(f *fetcher, n int, during func()) []kafka.Message {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer f.close()
	out, free := make(chan *chunk, 1), make(chan *chunk, 2)
	done := make(chan struct{})
	go func() { defer close(done); f.run(ctx, out, free) }()
	if during != nil {
		during()
	}
	var got []kafka.Message
	timeout := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case c := <-out:
			// Keys and values share a buffer; an append to one must not
			// reach the next.
			for i := 1; i < len(c.msgs); i++ {
				key, value := string(c.msgs[i].Key), string(c.msgs[i].Value)
				_ = append(c.msgs[i-1].Key, "XXXX"...)
				_ = append(c.msgs[i-1].Value, "XXXX"...)
				if string(c.msgs[i].Key) != key || string(c.msgs[i].Value) != value {
					r.t.Fatalf("an append to message %d overwrote message %d: %q %q", c.msgs[i-1].Offset, c.msgs[i].Offset, c.msgs[i].Key, c.msgs[i].Value)
				}
			}
			for _, m := range c.msgs { // the chunk's bytes are reused once it is reset
				m.Key, m.Value = bytes.Clone(m.Key), bytes.Clone(m.Value)
				got = append(got, m)
			}
			c.reset()
			free <- c
		case <-timeout:
			r.t.Fatalf("%d of %d messages after 30s", len(got), n)
		}
	}
	cancel()
	<-done
	return got
}

func numbered(from, to int) []kafka.Message {
	var msgs []kafka.Message
	for i := from; i < to; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf(`{"n":%d,"pad":"%0100d"}`, i, i)),
			Headers: []kafka.Header{{Key: "traceparent", Value: []byte(fmt.Sprint(i))}}})
	}
	return msgs
}

func TestFetcherReadsEveryMessageInOrderWithKeysValuesAndHeaders(t *testing.T) {
	r := newFetchRig(t)
	const n = 3000 // several fetches of MaxBytes 64 KiB, several chunks
	r.produce(numbered(0, n)...)
	got := r.fetch(r.p.newFetcher(0, kafka.FirstOffset), n, nil)
	if len(got) != n {
		t.Fatalf("%d messages, want %d", len(got), n)
	}
	for i, m := range got {
		want := numbered(i, i+1)[0]
		if m.Offset != int64(i) || m.Partition != 0 || m.Topic != "events" || string(m.Key) != string(want.Key) ||
			string(m.Value) != string(want.Value) || len(m.Headers) != 1 || string(m.Headers[0].Value) != fmt.Sprint(i) {
			t.Fatalf("message %d: offset %d key %q value %q headers %v", i, m.Offset, m.Key, m.Value, m.Headers)
		}
	}
}

func TestFetcherFromLastOffsetReadsOnlyNewMessages(t *testing.T) {
	r := newFetchRig(t)
	r.produce(numbered(0, 5)...)
	f := r.p.newFetcher(0, kafka.LastOffset)
	if err := f.resolve(context.Background(), kafka.LastOffset); err != nil || f.offset != 5 {
		t.Fatalf("LastOffset resolved to %d (%v), want 5", f.offset, err)
	}
	got := r.fetch(f, 3, func() { r.produce(numbered(5, 8)...) })
	if got[0].Offset != 5 || string(got[0].Key) != "k5" || got[2].Offset != 7 {
		t.Fatalf("read from offset %d (%q) to %d, want 5 to 7", got[0].Offset, got[0].Key, got[2].Offset)
	}
}

func TestFetcherPastTheEndWaitsForThePartitionToGrow(t *testing.T) {
	r := newFetchRig(t)
	r.produce(numbered(0, 2)...)
	f := r.p.newFetcher(0, 4)
	ctx := context.Background()
	if res, err := f.fetch(ctx); err != nil || !errors.Is(res.Error, kafka.OffsetOutOfRange) {
		t.Fatalf("fetching past the end: %v, %+v; want offset out of range", err, res)
	}
	if !f.outOfRange(ctx) || f.offset != 4 {
		t.Fatalf("after offset out of range: offset %d, want 4 still", f.offset)
	}
	got := r.fetch(f, 2, func() { r.produce(numbered(2, 6)...) })
	if got[0].Offset != 4 || got[1].Offset != 5 {
		t.Fatalf("offsets %d, %d, want 4, 5", got[0].Offset, got[1].Offset)
	}
}
