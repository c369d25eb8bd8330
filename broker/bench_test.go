package broker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// BenchmarkConsume measures how fast a bare kafka-go Reader drains small
// messages (about 100 bytes) from the broker. Each op is one message; run
// with -benchtime=200000x for the figure quoted in the docs.
//
//   - partition: a Reader on partition 0, ReadMessage.
//   - group: a consumer-group Reader, FetchMessage, CommitMessages every
//     1000 messages (synchronous commits).
//   - group-commit-each: as group, committing every message.
func BenchmarkConsume(b *testing.B) {
	for _, mode := range []string{"partition", "group", "group-commit-each"} {
		b.Run(mode, func(b *testing.B) {
			br := startBroker(b, Topic{"bench", 1})
			fill(b, br.Addr(), "bench", b.N)
			cfg := kafka.ReaderConfig{Brokers: []string{br.Addr()}, Topic: "bench", MaxWait: 100 * time.Millisecond}
			every := 1000
			switch mode {
			case "partition":
				cfg.Partition = 0
			case "group-commit-each":
				every = 1
				fallthrough
			default:
				cfg.GroupID = "bench"
			}
			r := kafka.NewReader(cfg)
			defer r.Close()
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				var err error
				if cfg.GroupID == "" {
					_, err = r.ReadMessage(ctx)
				} else {
					var m kafka.Message
					if m, err = r.FetchMessage(ctx); err == nil && ((i+1)%every == 0 || i == b.N-1) {
						err = r.CommitMessages(ctx, m)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// fill writes n messages of about 100 bytes in large batches.
func fill(b *testing.B, addr, topic string, n int) {
	w := &kafka.Writer{
		Addr: kafka.TCP(addr), Topic: topic, RequiredAcks: kafka.RequireAll,
		BatchSize: 5000, BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	value := make([]byte, 100)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	const chunk = 10000
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < n; i += chunk {
		msgs = msgs[:0]
		for j := i; j < n && j < i+chunk; j++ {
			msgs = append(msgs, kafka.Message{Key: []byte(strconv.Itoa(j)), Value: value})
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
	}
}
