package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
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
	idle      atomic.Bool   // the committer waits for kick (else it wakes on its own)
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

	start := a.Offset
	if start < 0 {
		start = p.cfg.StartOffset
	}
	f := p.newFetcher(a.ID, start)
	chunks, free := make(chan *chunk, 1), make(chan *chunk, freeChunks)
	fetcherDone := make(chan struct{})
	go func() {
		defer close(fetcherDone)
		f.run(fetchCtx, chunks, free)
	}()
	p.fetchLoop(fetchCtx, jobCtx, pt, chunks, free)
	stopFetch() // the loop ends only once fetchCtx is done; this makes it plain
	<-fetcherDone
	f.close()

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

// fetchLoop hands every fetched message to handle, in offset order, while
// the gate is open. Messages come in chunks of about chunkBytes: one channel
// hop per chunk, not per message.
func (p *Pipeline) fetchLoop(fetchCtx, jobCtx context.Context, pt *partition, chunks <-chan *chunk, free chan<- *chunk) {
	stop := fetchCtx.Done()
	for {
		var c *chunk
		select {
		case c = <-chunks:
		case <-stop:
			return
		}
		handled := 0
		for i := range c.msgs {
			if !p.proceed(fetchCtx, stop) {
				break
			}
			pt.tr.add(c.msgs[i].Offset)
			handled++
			if !p.handle(fetchCtx, jobCtx, pt, c.msgs[i]) {
				break
			}
		}
		p.stats.messages.Add(int64(handled))
		if handled < len(c.msgs) || fetchCtx.Err() != nil {
			return
		}
		c.reset()
		select {
		case free <- c:
		default:
		}
	}
}

// proceed reports whether the next message may be handled: fetchCtx (whose
// Done is stop) is not done, and the gate is open, waited for if need be.
func (p *Pipeline) proceed(fetchCtx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	default:
	}
	return p.gate.isOpen.Load() || p.gate.wait(fetchCtx) == nil
}

// markDone records that offset is fully handled and wakes the committer if
// the commit position moved and the committer waits for it.
func (pt *partition) markDone(offset int64, spans []trace.Span) {
	if len(spans) > 0 {
		pt.mu.Lock()
		for _, s := range spans {
			pt.spans = append(pt.spans, offsetSpan{offset, s})
		}
		pt.mu.Unlock()
	}
	if _, moved := pt.tr.done(offset); moved && pt.idle.Load() {
		select {
		case pt.kick <- struct{}{}:
		default:
		}
	}
}

// commitLoop commits the partition's position whenever it moves, at most
// once per CommitInterval, until ctx is done. It sleeps on kick only while
// nothing is left to commit, so a busy partition wakes it once per interval
// rather than once per message.
func (p *Pipeline) commitLoop(ctx context.Context, pt *partition) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	failed := false
	for {
		if !failed && pt.tr.position() <= pt.committed {
			pt.idle.Store(true)
			if pt.tr.position() <= pt.committed { // else it moved before the flag was seen
				select {
				case <-ctx.Done():
					return
				case <-pt.kick:
				}
			}
			pt.idle.Store(false)
		} else if failed {
			select {
			case <-ctx.Done():
				return
			case <-retry.C:
			}
		}
		if failed = !p.commit(pt); failed {
			retry.Reset(time.Second)
			continue
		}
		if p.cfg.CommitInterval > 0 && sleep(ctx, p.cfg.CommitInterval) != nil {
			return
		}
		if ctx.Err() != nil {
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
	if len(pt.spans) == 0 {
		return
	}
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

// chunk is messages of one fetch response, in offset order, with their keys
// and values in one buffer, reused for a later fetch once the handler is done
// with every message: so the fetch allocates nothing per message, nor per
// chunk once the partition runs steadily. Work dispatched for a message
// reads copies of the few bytes it needs (see own), never the buffer.
type chunk struct {
	msgs []kafka.Message
	buf  []byte // keys and values of msgs, and free capacity
}

// freeChunks is how many handled chunks a partition keeps for reuse.
const freeChunks = 4

// chunkBuf is the capacity of a chunk's buffer: chunkBytes and the message
// that crosses it, most times. A message that does not fit in what is left
// gets its own allocation.
const chunkBuf = chunkBytes + 8<<10

func (c *chunk) reset() {
	clear(c.msgs) // drops the references to the buffer and to headers
	c.msgs = c.msgs[:0]
	if poisonReused {
		b := c.buf[:cap(c.buf)]
		for i := range b {
			b[i] = '~'
		}
	}
	c.buf = c.buf[:0]
}

// poisonReused makes reset overwrite a chunk's bytes, so that work still
// reading a message's bytes after handle returned reads garbage (the
// package's tests set it: every test then checks that no job reads the
// buffer).
var poisonReused = false

// fetcher reads one partition from its leader, one fetch request at a time,
// and copies each response's records into a chunk of messages. Its client
// has its own connection, so that a long poll of an idle partition never
// delays the fetches of another, and is replaced after an error so that a
// moved leader is found again at once.
type fetcher struct {
	p         *Pipeline
	topic     string
	id        int
	client    *kafka.Client
	transport func() *kafka.Transport
	offset    int64 // the next offset to read; FirstOffset or LastOffset until resolved
	size      int   // MaxBytes of the next fetch request
}

// fetchBytes is the size of a fetch request, or MaxBytes if less: a response
// is held whole until its messages are handed over, so its size is memory
// per partition. A record batch larger than that still comes whole (brokers
// answer with the first batch whatever its size); a broker that does not is
// asked again with twice the size, up to MaxBytes.
const fetchBytes = 256 << 10

func (p *Pipeline) newFetcher(id int, start int64) *fetcher {
	transport := func() *kafka.Transport {
		t := &kafka.Transport{MetadataTopics: []string{p.cfg.Topic}}
		if d := p.cfg.Dialer; d != nil {
			t.TLS, t.SASL, t.ClientID, t.DialTimeout = d.TLS, d.SASLMechanism, d.ClientID, d.Timeout
		}
		return t
	}
	f := &fetcher{p: p, topic: p.cfg.Topic, id: id, transport: transport, offset: start, size: min(p.cfg.MaxBytes, fetchBytes)}
	f.client = &kafka.Client{Addr: kafka.TCP(p.cfg.Brokers...), Transport: transport()}
	return f
}

// close releases the fetcher's connections.
func (f *fetcher) close() {
	if t, ok := f.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}

// reconnect drops the client's connections and cached metadata.
func (f *fetcher) reconnect() {
	f.close()
	f.client.Transport = f.transport()
}

// run fetches until ctx is done, sending each non-empty response on out as
// a chunk (taken from free when one is there). Errors are counted, logged
// and retried with backoff: fetching never gives up while the partition is
// assigned.
func (f *fetcher) run(ctx context.Context, out chan<- *chunk, free <-chan *chunk) {
	const minBackoff, maxBackoff = 50 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	fail := func(what string, err error) bool {
		f.p.stats.fetchErrors.Add(1)
		f.p.log.Warn(what, "partition", f.id, "offset", f.offset, "error", err)
		f.reconnect()
		if sleep(ctx, backoff) != nil {
			return false
		}
		backoff = min(2*backoff, maxBackoff)
		return true
	}
	for ctx.Err() == nil {
		if f.offset < 0 {
			if err := f.resolve(ctx, f.offset); err != nil {
				if ctx.Err() != nil || !fail("finding the start offset", err) {
					return
				}
			}
			continue
		}
		res, err := f.fetch(ctx)
		if err != nil {
			if ctx.Err() != nil || !fail("fetching", err) {
				return
			}
			continue
		}
		if res.Error != nil {
			if errors.Is(res.Error, kafka.OffsetOutOfRange) {
				if !f.outOfRange(ctx) {
					return
				}
				continue
			}
			if !fail("fetching", res.Error) {
				return
			}
			continue
		}
		backoff = minBackoff
		before := f.offset
		for more := true; more; {
			var c *chunk
			select {
			case c = <-free:
			default:
				c = &chunk{}
			}
			more, err = f.decode(res, c)
			if len(c.msgs) > 0 {
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if !fail("reading a fetch response", err) {
					return
				}
				break
			}
		}
		switch {
		case err != nil:
		case f.offset > before:
			f.size = min(f.p.cfg.MaxBytes, fetchBytes)
		case before < res.HighWatermark && f.size < f.p.cfg.MaxBytes:
			// Nothing whole came: a batch larger than the request, from a
			// broker that does not send it anyway.
			f.size = min(2*f.size, f.p.cfg.MaxBytes)
		case before < res.HighWatermark:
			// Records, but none at or past the offset: a batch whose
			// records compaction removed, at the end of the log. Wait for
			// more rather than ask again at once.
			if sleep(ctx, f.p.cfg.MaxWait) != nil {
				return
			}
		}
	}
}

// fetch sends one fetch request. The broker holds it up to MaxWait while
// the partition has nothing new; the request fails if the answer takes
// 10 seconds more.
func (f *fetcher) fetch(ctx context.Context) (*kafka.FetchResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, f.p.cfg.MaxWait+10*time.Second)
	defer cancel()
	return f.client.Fetch(ctx, &kafka.FetchRequest{Topic: f.topic, Partition: f.id, Offset: f.offset,
		MinBytes: 1, MaxBytes: int64(f.size), MaxWait: f.p.cfg.MaxWait})
}

// chunkBytes bounds the keys and values of one chunk: a fetch response is
// handed over in pieces, so that the memory it takes is the response's own
// (pooled by kafka-go) and a few chunks, not a copy of it.
const chunkBytes = 16 << 10

// decode copies the next records of res at or past the fetcher's offset into
// c, about chunkBytes of them, and moves the offset past them. It reports
// whether res has more. The broker may answer with a record batch that
// starts before the offset asked for.
func (f *fetcher) decode(res *kafka.FetchResponse, c *chunk) (more bool, err error) {
	if res.Records == nil {
		return false, nil
	}
	size := 0
	for size < chunkBytes {
		r, err := res.Records.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
		if r.Offset < f.offset {
			closeBytes(r.Key)
			closeBytes(r.Value)
			continue
		}
		key, err := c.copyBytes(r.Key)
		if err != nil {
			return false, err
		}
		value, err := c.copyBytes(r.Value)
		if err != nil {
			return false, err
		}
		c.msgs = append(c.msgs, kafka.Message{Topic: f.topic, Partition: f.id, Offset: r.Offset, HighWaterMark: res.HighWatermark,
			Key: key, Value: value, Headers: r.Headers, Time: r.Time})
		f.offset = r.Offset + 1
		size += len(key) + len(value)
	}
	return true, nil
}

// copyBytes copies b into the chunk's buffer (its own allocation if it does
// not fit) and releases b. The copy's capacity ends with it, so an append to
// one message's bytes can never overwrite the next message's.
func (c *chunk) copyBytes(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	n, used := b.Len(), len(c.buf)
	if c.buf == nil {
		c.buf = make([]byte, 0, chunkBuf)
	}
	var s []byte
	if n <= cap(c.buf)-used {
		s = c.buf[used : used+n : used+n]
		c.buf = c.buf[:used+n]
	} else {
		s = make([]byte, n)
	}
	if _, err := io.ReadFull(b, s); err != nil {
		return nil, err
	}
	return s, nil
}

func closeBytes(b kafka.Bytes) {
	if b != nil {
		b.Close()
	}
}

// resolve sets the offset to the partition's first (kafka.FirstOffset) or
// last (kafka.LastOffset) offset.
func (f *fetcher) resolve(ctx context.Context, which int64) error {
	first, last, err := f.bounds(ctx)
	if err != nil {
		return err
	}
	if which == kafka.LastOffset {
		f.offset = last
	} else {
		f.offset = first
	}
	return nil
}

// outOfRange handles an offset the broker no longer or not yet has, as
// kafka-go's Reader does: before the first offset (retention removed the
// messages), reading resumes at the first, with an error logged; past the
// last, it waits for the partition to grow. It returns false once ctx is
// done.
func (f *fetcher) outOfRange(ctx context.Context) bool {
	first, last, err := f.bounds(ctx)
	switch {
	case err != nil:
		f.p.stats.fetchErrors.Add(1)
		f.p.log.Warn("finding the partition's offsets after an offset out of range", "partition", f.id, "offset", f.offset, "error", err)
	case f.offset < first:
		f.p.log.Error("the partition no longer holds the offset to read (retention removed it); reading resumes at the first offset it holds",
			"partition", f.id, "offset", f.offset, "first_offset", first, "skipped", first-f.offset)
		f.offset = first
		return true
	case f.offset < last:
		return true
	}
	return sleep(ctx, f.p.cfg.MaxWait) == nil
}

// bounds returns the partition's first offset and the offset after its last
// message.
func (f *fetcher) bounds(ctx context.Context) (first, last int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := f.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		f.topic: {kafka.FirstOffsetOf(f.id), kafka.LastOffsetOf(f.id)}}})
	if err != nil {
		return 0, 0, err
	}
	for _, po := range res.Topics[f.topic] {
		if po.Partition == f.id {
			return po.FirstOffset, po.LastOffset, po.Error
		}
	}
	return 0, 0, fmt.Errorf("no offsets for partition %d of %s", f.id, f.topic)
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
