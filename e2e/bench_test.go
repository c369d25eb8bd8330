package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

// BenchmarkEndToEnd runs the relay binary over a generated stream of 200,000
// events (broker and sandbox in this process) and reports events/s,
// orders/s, CPU seconds per million events and the relay's peak RSS.
// Run with -benchtime=1x: one op is the whole stream.
func BenchmarkEndToEnd(b *testing.B) {
	for _, latency := range []time.Duration{0, 50 * time.Millisecond} {
		b.Run("latency="+latency.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				endToEnd(b, latency)
			}
		})
	}
}

func endToEnd(b *testing.B, latency time.Duration) {
	w := newBenchWorld(b, 200000, sandbox.Options{Latency: latency})
	r := w.start()
	// Throughput is timed from the first delivery (process start and the
	// group join excluded) to the last; the final commit (up to
	// KAFKA_COMMIT_INTERVAL later) is waited for but not timed.
	waitFor(w.t, time.Minute, "the first order", r, func() bool { return len(w.sandbox.Orders()) > 0 })
	began := time.Now()
	waitFor(w.t, 10*time.Minute, "every order", r, func() bool { return len(w.sandbox.Orders()) >= len(w.valid) })
	elapsed := time.Since(began)
	waitFor(w.t, time.Minute, "the final commit", r, func() bool { return w.lag() == 0 })
	rss := peakRSS(r.cmd.Process.Pid)
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	<-r.exited
	r.exited <- nil
	cpu := 0.0
	if ru, ok := r.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	b.ReportMetric(float64(w.events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(len(w.valid))/elapsed.Seconds(), "orders/s")
	b.ReportMetric(cpu/float64(w.events)*1e6, "cpu-s/Mevents")
	b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
}

// BenchmarkBareConsumer reads the same kind of topic with a bare kafka-go
// consumer-group Reader (FetchMessage, one commit at the end): the ceiling
// the relay is compared with.
func BenchmarkBareConsumer(b *testing.B) {
	for i := 0; i < b.N; i++ {
		w := newBenchWorld(b, 200000, sandbox.Options{})
		messages := w.messages
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{w.broker.Addr()}, Topic: topic, GroupID: "bare",
			MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond})
		var began time.Time
		var last kafka.Message
		for n := 0; n < messages; n++ {
			m, err := rd.FetchMessage(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				began = time.Now() // timed from the first message, as the relay is
			}
			last = m
		}
		if err := rd.CommitMessages(context.Background(), last); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(began)
		rd.Close()
		b.ReportMetric(float64(w.events)/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(messages)/elapsed.Seconds(), "msgs/s")
	}
}

// newBenchWorld is newWorld for a benchmark.
func newBenchWorld(b *testing.B, n int, sb sandbox.Options) *world {
	b.StopTimer()
	defer b.StartTimer()
	return newWorld(b, n, sb)
}

// peakRSS reads a process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
