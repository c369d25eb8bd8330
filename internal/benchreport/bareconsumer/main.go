// Command bareconsumer is the ceiling the relay is measured against: a bare
// kafka-go consumer-group Reader that fetches a topic's first n messages
// (FetchMessage, no work), commits each partition once at the end and exits.
//
//	bareconsumer BROKER TOPIC GROUP N
//
// It prints its peak RSS in bytes (VmHWM) on stdout as it exits.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: bareconsumer BROKER TOPIC GROUP N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// The settings of the relay's benchmark environment (harness.World.Env).
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{os.Args[1]}, Topic: os.Args[2], GroupID: os.Args[3],
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second})
	ctx := context.Background()
	last := map[int]kafka.Message{} // by partition
	for i := 0; i < n; i++ {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		last[m.Partition] = m
	}
	var commits []kafka.Message
	for _, m := range last {
		commits = append(commits, m)
	}
	if err := rd.CommitMessages(ctx, commits...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := rd.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	fmt.Println(peakRSS())
}

// peakRSS is the process's VmHWM in bytes, or 0.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
