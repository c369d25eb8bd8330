//go:build !nodev

package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/refersion-relay/refersion-relay/broker"
)

// cmdBroker runs an in-process Kafka-protocol broker for development until
// ctx is cancelled. Once it accepts connections, its first line on stdout is
// "broker listening on HOST:PORT" (the address to dial, with the real port
// when --addr asks for :0); a second line sums up the topics.
func cmdBroker(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("broker", "broker [--addr HOST:PORT] [--topics NAME:PARTITIONS,...]", stdout)
	addr := fs.String("addr", "127.0.0.1:9092", "`HOST:PORT` to listen on (port 0: any free port)")
	adv := fs.String("advertise", "", "`HOST:PORT` clients are told to connect to (default: the listen address; 127.0.0.1 for 0.0.0.0)")
	topics := fs.String("topics", "", "topics to create, `NAME:PARTITIONS[,...]`; others are created on first use")
	parts := fs.Int("partitions", 1, "partitions of topics created on first use")
	dataDir := fs.String("data-dir", "", "keep topics, offsets and groups in this `directory` across restarts (default: memory only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ts, err := broker.ParseTopics(*topics)
	if err != nil {
		return fmt.Errorf("%w: --%v", errUsage, err)
	}
	if *parts < 1 {
		return fmt.Errorf("%w: --partitions must be at least 1", errUsage)
	}
	b, err := broker.Start(ctx, broker.Options{
		Addr: *addr, Advertise: *adv, Topics: ts, DefaultPartitions: *parts, DataDir: *dataDir,
	})
	if err != nil {
		return err
	}
	defer b.Close()
	if _, err := fmt.Fprintf(stdout, "broker listening on %s\n%s\n", b.Addr(), brokerSummary(ts, *parts, *dataDir)); err != nil {
		return err
	}
	<-b.Done()
	return nil
}

// brokerSummary is the line printed after the banner: what exists and
// where it is kept.
func brokerSummary(ts []broker.Topic, parts int, dataDir string) string {
	var sb strings.Builder
	if len(ts) == 0 {
		sb.WriteString("no topics yet;")
	} else {
		sb.WriteString("topics")
		for _, t := range ts {
			sb.WriteString(" " + t.String())
		}
		sb.WriteString(";")
	}
	fmt.Fprintf(&sb, " others are created on first use with %d partition(s);", parts)
	if dataDir == "" {
		sb.WriteString(" data in memory only")
	} else {
		sb.WriteString(" data kept in " + dataDir)
	}
	return sb.String()
}
