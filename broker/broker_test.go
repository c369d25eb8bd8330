package broker

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestParseTopics(t *testing.T) {
	good := map[string]string{
		"":                    "",
		"orders:4,dlq:1":      "orders:4,dlq:1",
		" orders : 4 , dlq ":  "orders:4,dlq:1",
		"a.b_c-D9:10000":      "a.b_c-D9:10000",
		"segment.events:12  ": "segment.events:12",
	}
	for in, want := range good {
		ts, err := ParseTopics(in)
		if err != nil {
			t.Errorf("ParseTopics(%q): %v", in, err)
			continue
		}
		var s []string
		for _, tp := range ts {
			s = append(s, tp.String())
		}
		if got := strings.Join(s, ","); got != want {
			t.Errorf("ParseTopics(%q) = %s, want %s", in, got, want)
		}
	}
	bad := map[string]string{
		"orders:4,":                     "item 2 is empty",
		"orders:x":                      "not a whole number",
		"orders:0":                      "between 1 and",
		"orders:-1":                     "between 1 and",
		"orders:10001":                  "between 1 and",
		":3":                            "empty topic name",
		"ord ers:1":                     "not allowed",
		"orders/x:1":                    "not allowed",
		"..:1":                          "not a valid topic name",
		"a:1,b:2,a:3":                   "listed twice",
		strings.Repeat("x", 250) + ":1": "longer than 249",
	}
	for in, want := range bad {
		_, err := ParseTopics(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTopics(%.30q) error %v, want it to mention %q", in, err, want)
		}
	}
}

func TestStartErrors(t *testing.T) {
	b := startBroker(t)
	if _, err := Start(context.Background(), Options{Addr: b.Addr()}); err == nil {
		t.Error("second broker on the same address started")
	}
	if _, err := Start(context.Background(), Options{Topics: []Topic{{"x", 0}}}); err == nil {
		t.Error("topic with 0 partitions accepted")
	}
	if _, err := Start(context.Background(), Options{Advertise: "nohost"}); err == nil {
		t.Error("advertise address without port accepted")
	}
}

func TestAdvertise(t *testing.T) {
	b, err := Start(context.Background(), Options{Addr: "0.0.0.0:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.HasPrefix(b.Addr(), "127.0.0.1:") || strings.HasSuffix(b.Addr(), ":0") {
		t.Errorf("Addr() = %s, want 127.0.0.1 and the chosen port", b.Addr())
	}
	b2, err := Start(context.Background(), Options{Advertise: "kafka.internal:19092"})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if b2.Addr() != "kafka.internal:19092" {
		t.Errorf("Addr() = %s", b2.Addr())
	}
}

// TestContextStops checks that cancelling Start's context stops the broker.
func TestContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cancel()
	<-b.Done()
	if c, err := net.DialTimeout("tcp", b.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("broker still accepting connections after cancel")
	}
}

// TestTopicCreation covers both ways a topic the broker was not started
// with comes to exist: a Writer that allows auto-creation, and CreateTopics.
func TestTopicCreation(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: "auto", AllowAutoTopicCreation: true, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}); err != nil {
		t.Fatalf("write to an auto-created topic: %v", err)
	}

	c := &kafka.Client{Addr: kafka.TCP(b.Addr())}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: "dlq", NumPartitions: 2, ReplicationFactor: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Errors["dlq"]; err != nil {
		t.Fatalf("create dlq: %v", err)
	}
	res, err = c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: "dlq", NumPartitions: 2, ReplicationFactor: 1},
	}})
	if err != nil || !errors.Is(res.Errors["dlq"], kafka.TopicAlreadyExists) {
		t.Errorf("second create: %v, %v; want TopicAlreadyExists", err, res.Errors["dlq"])
	}

	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"auto", "dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]int{}
	for _, tp := range md.Topics {
		if tp.Error != nil {
			t.Errorf("%s: %v", tp.Name, tp.Error)
		}
		parts[tp.Name] = len(tp.Partitions)
	}
	if parts["auto"] != 1 || parts["dlq"] != 2 {
		t.Errorf("partitions %v, want auto:1 dlq:2", parts)
	}
}
