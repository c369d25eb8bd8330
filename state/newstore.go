package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refersion-relay/refersion-relay/state/disk"
	"github.com/refersion-relay/refersion-relay/store"
)

// ErrNewStore is what a *NewStoreError wraps.
var ErrNewStore = errors.New("the sent-order store is new but the consumer group has committed offsets")

// NewStoreError is CheckNew's refusal: the sent-order store is new (it
// holds no identity and no order_id, or it is store.Origin.Lost), yet the
// consumer group has consumed before. Its message names the cause and the
// ways out.
type NewStoreError struct {
	Backend string // memory, disk or redis
	Where   string // the sent-order store: its file, or the redis key prefix
	Topic   string
	Group   string
	Lost    bool // the store lost its identity while in use (store.Origin.Lost)
}

func (e *NewStoreError) Error() string {
	cause := "it was deleted, emptied (0 bytes) or replaced, or STATE_DIR names another directory"
	fix := "restore " + e.Where + " from a backup, or set STATE_DIR to the directory that holds it"
	switch e.Backend {
	case "redis":
		cause = "the server restarted without persistence, was flushed, or REDIS_URL names another server or database"
		if e.Lost {
			cause = "the server restarted without persistence or was flushed while the store was in use"
		}
		fix = "restore the server's data from its RDB or AOF files, or point REDIS_URL at the server that holds it"
	case "memory":
		cause = "STATE_BACKEND=memory keeps nothing across restarts"
		fix = "use STATE_BACKEND=disk or redis"
	}
	found := "is new, holding no store id and no order_id"
	if e.Lost {
		found = "lost its store id, holding at most the order_ids sent since by requests in flight at the loss"
	}
	return fmt.Sprintf("refusing to start: the %s sent-order store (%s) %s, "+
		"but consumer group %q has committed offsets on topic %q, so orders were consumed before and the record of what was sent is lost (%s). "+
		"Starting would send again every order the group reads again. To keep that record, %s. "+
		"To start anyway, accepting that, set STATE_ACCEPT_NEW=true or run with --accept-new-state",
		e.Backend, e.Where, found, e.Group, e.Topic, cause, fix)
}

func (e *NewStoreError) Unwrap() error { return ErrNewStore }

// Group is the consumer group whose committed offsets tell a sent-order
// store that lost its data from a new one.
type Group struct {
	Topic, ID string
	// Committed reports whether the group has committed an offset on any
	// partition of Topic. KafkaGroup builds it on a kafka.Client.
	Committed func(ctx context.Context) (bool, error)
}

// KafkaGroup is group id's Group on topic, asked through c.
func KafkaGroup(c *kafka.Client, topic, id string) Group {
	return Group{Topic: topic, ID: id, Committed: func(ctx context.Context) (bool, error) {
		return GroupCommitted(ctx, c, topic, id)
	}}
}

// GroupCommitted reports whether consumer group has committed an offset on
// any partition of topic. A topic that does not exist has none.
func GroupCommitted(ctx context.Context, c *kafka.Client, topic, group string) (bool, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return false, fmt.Errorf("metadata of topic %s: %w", topic, err)
	}
	if len(md.Topics) == 0 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		return false, nil
	}
	var parts []int
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
	}
	res, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = res.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) { // a group never seen has committed nothing
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return false, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, topic, po.Partition, po.Error)
		}
		if po.CommittedOffset >= 0 {
			return true, nil
		}
	}
	return false, nil
}

// Origin returns the sent-order store's identity (see store.Origin). The
// redis backend asks the server: it fails while the server does not answer.
func (s *Stores) Origin(ctx context.Context) (store.Origin, error) {
	id, ok := s.Sent.(store.Identified)
	if !ok {
		return store.Origin{}, fmt.Errorf("the %s sent-order store records no identity", s.Backend)
	}
	return id.Origin(ctx)
}

// CheckNew is the check run makes before consuming: a sent-order store
// that is new (store.Origin.New, Lost or not) while g has committed offsets
// has lost what it held, and starting on it would send again every order
// the group reads again. It returns a *NewStoreError then, unless accept is true (the
// operator was told, with STATE_ACCEPT_NEW or --accept-new-state). When the
// store is new and the group has no offsets (a first start), or accept is
// true, the store is adopted: its identity is recorded, so that its loss is
// detected from now on (and, on redis, claims stop if the server loses it
// while the relay runs). A store that is not new is only logged.
//
// While the store or the brokers do not answer, CheckNew retries, logging
// the first failure, until ctx ends. It logs what it found at info level,
// or at warn level when accept let it go on.
func (s *Stores) CheckNew(ctx context.Context, g Group, accept bool) error {
	origin, err := retry(ctx, s.log, "reading the sent-order store's identity", func(ctx context.Context) (store.Origin, error) { return s.Origin(ctx) })
	if err != nil {
		return err
	}
	if !origin.New {
		s.log.InfoContext(ctx, "sent-order store", "backend", s.Backend, "store_id", origin.ID, "created", origin.Created)
		return nil
	}
	committed, err := retry(ctx, s.log, "reading the committed offsets of group "+g.ID, g.Committed)
	if err != nil {
		return err
	}
	if committed && !accept {
		return &NewStoreError{Backend: s.Backend, Where: s.where(), Topic: g.Topic, Group: g.ID, Lost: origin.Lost}
	}
	adopted, err := retry(ctx, s.log, "recording the sent-order store's identity", func(ctx context.Context) (store.Origin, error) {
		return s.Sent.(store.Identified).Adopt(ctx)
	})
	if err != nil {
		return err
	}
	if committed {
		s.log.WarnContext(ctx, "started on a new sent-order store although the group has committed offsets, as told to (STATE_ACCEPT_NEW or --accept-new-state): orders the group reads again may be sent again",
			"backend", s.Backend, "store", s.where(), "group", g.ID, "topic", g.Topic, "store_id", adopted.ID)
		return nil
	}
	s.log.InfoContext(ctx, "new sent-order store: the group has no committed offsets, so nothing was sent before",
		"backend", s.Backend, "store", s.where(), "group", g.ID, "store_id", adopted.ID)
	return nil
}

// where names the sent-order store in messages.
func (s *Stores) where() string {
	switch s.Backend {
	case "disk":
		return filepath.Join(s.Dir, disk.SentFile)
	case "redis":
		return "key prefix " + s.prefix + " at REDIS_URL"
	default:
		return "process memory"
	}
}

// retry calls fn until it succeeds or ctx ends, waiting longer after each
// failure (up to 5s), and logs the first failure at warn level.
func retry[T any](ctx context.Context, log *slog.Logger, what string, fn func(context.Context) (T, error)) (T, error) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		v, err := fn(ctx)
		if err == nil {
			if attempt > 1 {
				log.InfoContext(ctx, what+": done", "attempts", attempt)
			}
			return v, nil
		}
		if ctx.Err() != nil {
			return v, fmt.Errorf("%s: %w", what, err)
		}
		if attempt == 1 {
			log.WarnContext(ctx, what+" failed; retrying until it answers", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
