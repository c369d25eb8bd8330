package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"
)

// partition is one assigned partition for the life of one generation.
type partition struct {
	topic string
	id    int
	gen   *kafka.Generation
	tr    *tracker
	jobs  sync.WaitGroup // in-flight deliveries and dead-letter writes

	kick      chan struct{} // wakes the committer; capacity 1
	committed int64         // last committed position; committer only

	mu    sync.Mutex
	spans []offsetSpan // order spans of done messages, ended once committed
}

type offsetSpan struct {
	offset int64
	span   trace.Span
}

// consumePartition fetches one partition until the generation ends or ctx
// is done, then lets in-flight work drain for DrainTimeout and commits what
// is done. Work is done under jobCtx, which outlives the fetch loop by the
// drain time so that a stop does not cut deliveries short.
func (p *Pipeline) consumePartition(ctx, genCtx context.Context, gen *kafka.Generation, a kafka.PartitionAssignment) {
	fetchCtx, stopFetch := context.WithCancel(genCtx)
	defer stopFetch()
	stopOnShutdown := context.AfterFunc(ctx, stopFetch)
	defer stopOnShutdown()

	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	pt := &partition{topic: p.cfg.Topic, id: a.ID, gen: gen, tr: newTracker(), kick: make(chan struct{}, 1), committed: -1}
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		p.commitLoop(fetchCtx, pt)
	}()

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        p.cfg.Brokers,
		Topic:          p.cfg.Topic,
		Partition:      a.ID,
		Dialer:         p.cfg.Dialer,
		MinBytes:       1,
		MaxBytes:       p.cfg.MaxBytes,
		MaxWait:        p.cfg.MaxWait,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
	})
	start := a.Offset
	if start < 0 {
		start = p.cfg.StartOffset
	}
	if err := r.SetOffset(start); err != nil {
		p.log.Error("setting the start offset", "partition", a.ID, "offset", start, "error", err)
	}
	p.fetchLoop(fetchCtx, jobCtx, pt, r)
	if err := r.Close(); err != nil {
		p.log.Debug("closing partition reader", "partition", a.ID, "error", err)
	}

	drained := make(chan struct{})
	go func() { pt.jobs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(p.cfg.DrainTimeout):
		p.log.Warn("drain deadline passed; unfinished work is redone after restart", "partition", a.ID)
		cancelJobs()
		<-drained
	}
	<-committerDone
	p.commit(pt) // the final commit; fails harmlessly if the generation has ended
	pt.abandonSpans()
}

func (p *Pipeline) fetchLoop(fetchCtx, jobCtx context.Context, pt *partition, r *kafka.Reader) {
	backoff := 50 * time.Millisecond
	for {
		if p.gate.wait(fetchCtx) != nil {
			return
		}
		m, err := r.FetchMessage(fetchCtx)
		if err != nil {
			if fetchCtx.Err() != nil {
				return
			}
			p.stats.fetchErrors.Add(1)
			p.log.Warn("fetching", "partition", pt.id, "error", err)
			if sleep(fetchCtx, backoff) != nil {
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		pt.tr.add(m.Offset)
		p.stats.messages.Add(1)
		if !p.handle(fetchCtx, jobCtx, pt, m) {
			return
		}
	}
}

// markDone records that offset is fully handled and wakes the committer if
// the commit position moved.
func (pt *partition) markDone(offset int64, spans []trace.Span) {
	if len(spans) > 0 {
		pt.mu.Lock()
		for _, s := range spans {
			pt.spans = append(pt.spans, offsetSpan{offset, s})
		}
		pt.mu.Unlock()
	}
	if _, moved := pt.tr.done(offset); moved {
		select {
		case pt.kick <- struct{}{}:
		default:
		}
	}
}

// commitLoop commits the partition's position whenever it moves, coalescing
// bursts into one commit, until ctx is done.
func (p *Pipeline) commitLoop(ctx context.Context, pt *partition) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pt.kick:
		case <-retry.C:
		}
		if !p.commit(pt) {
			retry.Reset(time.Second)
			continue
		}
		if p.cfg.CommitInterval > 0 && sleep(ctx, p.cfg.CommitInterval) != nil {
			return
		}
	}
}

// commit commits the partition's position if it moved. It reports false on
// a failed commit, which is counted and retried; the work stays done.
func (p *Pipeline) commit(pt *partition) bool {
	next := pt.tr.position()
	if next <= pt.committed {
		return true
	}
	// Identity changes of the messages below next were accepted before
	// this point; the store makes them durable (a write-behind one, such
	// as state/disk, waits for its writer) before the offsets that would
	// skip them are committed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := p.ids.Flush(ctx)
	cancel()
	if err != nil {
		p.stats.commitFailures.Add(1)
		p.log.Warn("identity store flush failed; commit postponed", "partition", pt.id, "error", err)
		return false
	}
	err = pt.gen.CommitOffsets(map[string]map[int]int64{pt.topic: {pt.id: next}})
	if err != nil {
		p.stats.commitFailures.Add(1)
		p.log.Warn("commit failed; will retry", "partition", pt.id, "offset", next, "error", err)
		return false
	}
	pt.committed = next
	pt.endSpans(next)
	return true
}

// abandonSpans ends the spans of done messages whose offsets this member
// could not commit (the generation ended first); the work is redone by the
// partition's next owner.
func (pt *partition) abandonSpans() {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, s := range pt.spans {
		s.span.AddEvent("offset not committed by this member")
		s.span.End()
	}
	pt.spans = nil
}

// endSpans ends the spans of messages below the commit position next.
func (pt *partition) endSpans(next int64) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	kept := pt.spans[:0]
	for _, s := range pt.spans {
		if s.offset < next {
			s.span.End()
		} else {
			kept = append(kept, s)
		}
	}
	pt.spans = kept
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
