//go:build !nodev

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestBroker starts the broker command on a free port, produces and
// consumes through it, then cancels it.
func TestBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- cmdBroker(ctx, []string{"--addr", "127.0.0.1:0", "--topics", "orders:2,dlq:1"}, nil, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no banner: %v (command: %v)", err, <-done)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "broker listening on ")
	if !ok || strings.HasSuffix(addr, ":0") {
		t.Fatalf("banner %q", line)
	}
	go io.Copy(io.Discard, pr)

	tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
	defer tcancel()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "orders", RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(tctx, kafka.Message{Key: []byte("k"), Value: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	parts, err := (&kafka.Client{Addr: kafka.TCP(addr)}).Metadata(tctx, &kafka.MetadataRequest{Topics: []string{"orders", "dlq"}})
	if err != nil || len(parts.Topics) != 2 || len(parts.Topics[0].Partitions)+len(parts.Topics[1].Partitions) != 3 {
		t.Fatalf("metadata %+v, %v", parts, err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: "orders", GroupID: "t", MaxWait: 100 * time.Millisecond})
	m, err := r.FetchMessage(tctx)
	r.Close()
	if err != nil || string(m.Value) != "hello" {
		t.Fatalf("read %q, %v", m.Value, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("broker returned %v after cancel", err)
	}
}

func TestBrokerErrors(t *testing.T) {
	for _, args := range [][]string{{"--topics", "orders:x"}, {"--partitions", "0"}, {"--nope"}} {
		err := cmdBroker(context.Background(), args, nil, &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, errUsage) {
			t.Errorf("broker %v: error %v, want a usage error", args, err)
		}
	}
	if err := cmdBroker(context.Background(), []string{"--addr", "256.0.0.1:1"}, nil, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || errors.Is(err, errUsage) {
		t.Errorf("bad address: %v", err)
	}
}
