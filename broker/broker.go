// Package broker runs a single-node, Kafka-protocol broker in process, for
// development, demos and tests. It embeds franz-go's kfake: topics live in
// memory (or under Options.DataDir), there is no replication, and everything a
// consumer-group client needs (metadata, produce, fetch, list offsets, find
// coordinator, join/sync/heartbeat/leave group, offset commit/fetch,
// create topics) is implemented.
//
// # Using it with segmentio/kafka-go
//
// kafka-go's Writer and consumer-group Reader work against it unchanged. The
// settings that matter, all exercised by this package's tests:
//
//   - Consume with Reader.GroupID set, FetchMessage, then CommitMessages.
//     Keep CommitInterval at 0 (the default): CommitMessages then commits
//     synchronously and returns once the broker has stored the offset.
//     Committing every message costs a round trip (about 34k msgs/s here);
//     committing once per 1000 messages runs at about 840k msgs/s.
//   - StartOffset only applies to a group with no committed offset
//     (kafka.FirstOffset, the default, reads the topic from the start). A
//     Reader restarted in the same group resumes right after the last
//     committed offset of each partition.
//   - Reader.Close sends LeaveGroup, so a Reader restarted in the same group
//     is assigned its partitions at once. One that dies without closing
//     keeps them until its SessionTimeout (kafka-go default 30s) runs out;
//     the broker accepts session timeouts between 6s and 5m.
//   - A member joining an active group waits for the other members to learn
//     of the rebalance at their next heartbeat: HeartbeatInterval (kafka-go
//     default 3s) is the rebalance latency. Tests use 300ms.
//   - MaxWait (kafka-go default 10s) is how long a fetch of a caught-up
//     partition is parked at the broker, and Reader.Close and every
//     rebalance wait for parked fetches: with the default, closing or
//     restarting a caught-up reader takes up to 10s (these tests went from
//     under a second to 9-18s each). New messages still arrive at once, so
//     100ms-500ms costs nothing but idle polls. ReadBackoffMin/Max only
//     matter after errors. The default GroupBalancers (range, round-robin)
//     work.
//   - Writer.RequiredAcks = kafka.RequireAll is acknowledged as soon as the
//     batch is in the log (single node). Keep Writer.BatchBytes at or below
//     its 1 MiB default: larger produce requests are refused with Message
//     Size Too Large, as by a stock Kafka. Writer.BatchTimeout (default 1s)
//     delays small writes; lower it for a dead-letter or test writer.
//   - Topics not listed in Options.Topics are created on first use with
//     Options.DefaultPartitions partitions, so Writer.AllowAutoTopicCreation
//     works; CreateTopics requests (kafka.Client.CreateTopics on Addr) work
//     too and answer TopicAlreadyExists for an existing topic.
//   - Message keys, values and headers round-trip.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Topic is a topic created when the broker starts.
type Topic struct {
	Name       string
	Partitions int
}

// Options configure a Broker. The zero value is usable.
type Options struct {
	// Addr is the TCP address to listen on; "" means "127.0.0.1:0" (a free
	// port, see Broker.Addr).
	Addr string
	// Advertise is the host:port clients are told to connect to. "" means
	// the listener's address, with an unspecified host (0.0.0.0, ::)
	// replaced by 127.0.0.1.
	Advertise string
	// Topics are created at start. With a DataDir that holds a previous
	// state, that state is loaded instead and Topics are ignored.
	Topics []Topic
	// DefaultPartitions is the partition count of auto-created topics and
	// of CreateTopics requests that ask for -1; 0 means 1.
	DefaultPartitions int
	// DataDir, when set, persists topics, offsets and groups there and
	// reloads them on the next start. "" keeps everything in memory.
	DataDir string
	// MaxMessageBytes is the largest record batch the broker accepts
	// (message.max.bytes); 0 keeps Kafka's default of about 1 MiB.
	MaxMessageBytes int
}

// Broker is a running broker. Close it when done.
type Broker struct {
	c     *kfake.Cluster
	addr  string
	once  sync.Once
	done  chan struct{}
	unreg func() bool
}

// Start listens on o.Addr and serves until Close is called or ctx is done.
func Start(ctx context.Context, o Options) (*Broker, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.DefaultPartitions <= 0 {
		o.DefaultPartitions = 1
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	adv, err := advertised(ln.Addr().String(), o.Advertise)
	if err != nil {
		ln.Close()
		return nil, err
	}
	used := false
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("refersion-relay"),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(o.DefaultPartitions),
		kfake.ListenFn(func(string, string) (net.Listener, error) {
			if used {
				return nil, errors.New("broker: a single node only")
			}
			used = true
			return advListener{ln, adv}, nil
		}),
	}
	for _, t := range o.Topics {
		if err := t.validate(); err != nil {
			ln.Close()
			return nil, err
		}
		opts = append(opts, kfake.SeedTopics(int32(t.Partitions), t.Name))
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	cfgs := map[string]string{}
	if o.DataDir == "" {
		// Held in memory, a segment is one growing slice, copied whole each
		// time it grows, under a lock every produce and fetch takes: at the
		// default 100 MiB a write now and then stalls the broker for tens
		// of milliseconds. Segments of 1 MiB keep each copy short.
		cfgs["log.segment.bytes"] = strconv.Itoa(1 << 20)
	}
	if o.MaxMessageBytes > 0 {
		cfgs["message.max.bytes"] = strconv.Itoa(o.MaxMessageBytes)
	}
	if len(cfgs) > 0 {
		opts = append(opts, kfake.BrokerConfigs(cfgs))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		if !used {
			ln.Close()
		}
		return nil, fmt.Errorf("broker: %w", err)
	}
	b := &Broker{c: c, addr: adv.String(), done: make(chan struct{})}
	b.unreg = context.AfterFunc(ctx, b.shutdown)
	return b, nil
}

// Addr is the host:port clients should dial (the advertised address; with
// Addr ":0" it carries the port actually chosen).
func (b *Broker) Addr() string { return b.addr }

// Done is closed once the broker has stopped, by Close or by the end of
// Start's context.
func (b *Broker) Done() <-chan struct{} { return b.done }

// Close stops the broker and closes its listener; with a DataDir, state is
// saved first. It is safe to call more than once.
func (b *Broker) Close() {
	b.unreg()
	b.shutdown()
}

func (b *Broker) shutdown() {
	b.once.Do(func() {
		b.c.Close()
		close(b.done)
	})
}

// advertised returns the address to report in metadata responses.
func advertised(listen, adv string) (net.Addr, error) {
	if adv == "" {
		host, port, _ := net.SplitHostPort(listen)
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		adv = net.JoinHostPort(host, port)
	}
	host, port, err := net.SplitHostPort(adv)
	if err != nil || host == "" || port == "" || port == "0" {
		return nil, fmt.Errorf("broker: advertise address %q: want HOST:PORT", adv)
	}
	return advAddr(net.JoinHostPort(host, port)), nil
}

// advListener reports the advertised address as its own, which is what kfake
// puts in metadata responses.
type advListener struct {
	net.Listener
	adv net.Addr
}

func (l advListener) Addr() net.Addr { return l.adv }

type advAddr string

func (advAddr) Network() string  { return "tcp" }
func (a advAddr) String() string { return string(a) }
