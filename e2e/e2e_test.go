// Package e2e runs the refersion-relay binary as a separate process against
// an in-process broker and sandbox, and kills it.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/broker"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/storefront"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "refersion-relay-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "refersion-relay")
	_, here, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", binary, "./cmd/refersion-relay")
	build.Dir = filepath.Join(filepath.Dir(here), "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building refersion-relay: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const topic = "events"

// world is a broker and a sandbox, a generated stream on the broker, and the
// relay's environment.
type world struct {
	t        testing.TB
	broker   *broker.Broker
	sandbox  *sandbox.Server
	valid    map[string]bool
	events   int
	messages int
	env      []string
}

func newWorld(t testing.TB, n int, sb sandbox.Options) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := broker.Start(ctx, broker.Options{Topics: []broker.Topic{{Name: topic, Partitions: 4}, {Name: topic + ".refersion-dlq", Partitions: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	sb.Keys = sandbox.DefaultKeys
	s := sandbox.New(sb)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := &world{t: t, broker: b, sandbox: s, valid: map[string]bool{}}
	w.produce(n)
	w.env = append(os.Environ(),
		"KAFKA_BROKERS="+b.Addr(), "KAFKA_TOPIC="+topic, "KAFKA_GROUP_ID=e2e",
		"KAFKA_SESSION_TIMEOUT=6s", "KAFKA_HEARTBEAT_INTERVAL=300ms", "KAFKA_MAX_WAIT=100ms", "KAFKA_REBALANCE_TIMEOUT=10s",
		"REFERSION_URL="+s.Endpoint(), "REFERSION_API_KEY="+sandbox.DefaultKeys,
		"REFERSION_RETRY_INITIAL_BACKOFF=10ms", "REFERSION_BREAKER_OPEN_TIMEOUT=200ms",
		"STATE_BACKEND=memory", "ADMIN_ADDR=127.0.0.1:0", "LOG_LEVEL=warn", "DRAIN_TIMEOUT=5s",
	)
	return w
}

func (w *world) produce(n int) {
	o := storefront.DefaultOptions()
	o.N, o.Batch = n, 0.1
	g, err := storefront.New(o)
	if err != nil {
		w.t.Fatal(err)
	}
	kw := &kafka.Writer{Addr: kafka.TCP(w.broker.Addr()), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer kw.Close()
	var msgs []kafka.Message
	for {
		l, ok := g.Next()
		if !ok {
			break
		}
		msgs = append(msgs, kafka.Message{Key: []byte(l.Events[0].AnonymousID), Value: bytes.Clone(l.Data)})
		w.messages++
		for _, e := range l.Events {
			w.events++
			if e.Kind == storefront.OrderValid {
				w.valid[e.OrderID] = true
			}
		}
	}
	if err := kw.WriteMessages(context.Background(), msgs...); err != nil {
		w.t.Fatal(err)
	}
}

// relay is one running refersion-relay process.
type relay struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan error
}

func (w *world) start() *relay {
	w.t.Helper()
	r := &relay{cmd: exec.Command(binary, "run"), stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	r.cmd.Env, r.cmd.Stderr = w.env, r.stderr
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	w.t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.exited
		r.exited <- nil
	})
	return r
}

// accepted returns the sandbox's accepted order ids with how often each came.
func (w *world) accepted() map[string]int {
	out := map[string]int{}
	for _, raw := range w.sandbox.Orders() {
		var o struct {
			OrderID string `json:"order_id"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			w.t.Fatal(err)
		}
		out[o.OrderID]++
	}
	return out
}

func (w *world) lag() int64 {
	c := &kafka.Client{Addr: kafka.TCP(w.broker.Addr()), Timeout: 5 * time.Second}
	parts, err := pipeline.GroupLag(context.Background(), c, topic, "e2e")
	if err != nil {
		return -1
	}
	var n int64
	for _, l := range parts {
		n += l
	}
	return n
}

// waitFor polls cond until it holds; it fails the test after limit.
func waitFor(t testing.TB, limit time.Duration, what string, r *relay, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case err := <-r.exited:
			r.exited <- err
			t.Fatalf("relay exited (%v) while waiting for %s; stderr:\n%s", err, what, r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; relay stderr:\n%s", limit, what, r.stderr.String())
		}
		<-tick.C
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
