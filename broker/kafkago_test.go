package broker

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// startBroker starts a broker on a free loopback port, closed with the test.
func startBroker(t testing.TB, topics ...Topic) *Broker {
	t.Helper()
	b, err := Start(context.Background(), Options{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// produce writes n messages to topic, key "k<i>", value "v<i>" and one header
// "seq" = i, waiting for every acknowledgement (RequireAll).
func produce(t testing.TB, addr, topic string, from, n int) {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	const chunk = 5000
	for i := from; i < from+n; i += chunk {
		msgs := make([]kafka.Message, 0, chunk)
		for j := i; j < from+n && j < i+chunk; j++ {
			s := strconv.Itoa(j)
			msgs = append(msgs, kafka.Message{
				Key:     []byte("k" + s),
				Value:   []byte("v" + s),
				Headers: []kafka.Header{{Key: "seq", Value: []byte(s)}, {Key: "src", Value: []byte("test")}},
			})
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
}

// groupReader is a consumer-group Reader with the settings the package doc
// recommends.
func groupReader(addr, topic, group string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{addr},
		Topic:             topic,
		GroupID:           group,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: 300 * time.Millisecond,
	})
}

// delivery is one consumed message.
type delivery struct{ seq, partition int }

// consume fetches and commits n messages one by one and checks each one's
// key, headers and per-partition offset order.
func consume(t testing.TB, r *kafka.Reader, n int) []delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	last := map[int]int64{}
	got := make([]delivery, 0, n)
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch after %d of %d messages: %v", len(got), n, err)
		}
		if prev, ok := last[m.Partition]; ok && m.Offset <= prev {
			t.Fatalf("partition %d: offset %d after %d", m.Partition, m.Offset, prev)
		}
		last[m.Partition] = m.Offset
		seq, err := checkMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
		got = append(got, delivery{seq, m.Partition})
	}
	return got
}

// checkMessage verifies what produce wrote and returns the message's seq.
func checkMessage(m kafka.Message) (int, error) {
	if len(m.Headers) != 2 || m.Headers[0].Key != "seq" || m.Headers[1].Key != "src" || string(m.Headers[1].Value) != "test" {
		return 0, fmt.Errorf("offset %d: headers %v", m.Offset, m.Headers)
	}
	seq, err := strconv.Atoi(string(m.Headers[0].Value))
	if err != nil {
		return 0, fmt.Errorf("offset %d: seq header: %v", m.Offset, err)
	}
	s := strconv.Itoa(seq)
	if string(m.Key) != "k"+s || string(m.Value) != "v"+s {
		return 0, fmt.Errorf("seq %d: key %q value %q", seq, m.Key, m.Value)
	}
	return seq, nil
}

// TestGroupCommitResume consumes part of a 3-partition topic in a group,
// committing each message, then restarts the reader in the same group: it
// must deliver exactly the uncommitted messages, from every partition.
func TestGroupCommitResume(t *testing.T) {
	const topic, total, first = "orders", 600, 250
	b := startBroker(t, Topic{topic, 3})
	produce(t, b.Addr(), topic, 0, total)

	r := groupReader(b.Addr(), topic, "relay")
	got := consume(t, r, first)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	produce(t, b.Addr(), topic, total, 100)
	r = groupReader(b.Addr(), topic, "relay")
	defer r.Close()
	got = append(got, consume(t, r, total+100-first)...)
	checkExactlyOnce(t, got, total+100)

	parts := map[int]int{}
	for _, d := range got {
		parts[d.partition]++
	}
	if len(parts) != 3 {
		t.Errorf("messages per partition %v, want all 3 partitions used", parts)
	}
}

// checkExactlyOnce fails unless got holds every seq in [0, n) once.
func checkExactlyOnce(t testing.TB, got []delivery, n int) {
	t.Helper()
	seen := make([]bool, n)
	for _, d := range got {
		if d.seq < 0 || d.seq >= n || seen[d.seq] {
			t.Fatalf("seq %d unexpected or delivered twice", d.seq)
		}
		seen[d.seq] = true
	}
	if len(got) != n {
		t.Fatalf("%d messages delivered, want %d", len(got), n)
	}
}
