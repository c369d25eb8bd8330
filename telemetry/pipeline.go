package telemetry

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sink"
)

// Sources are what the observable instruments read at each collection (each
// scrape of /metrics and each OTLP push). Stats is required; a nil Ready,
// Breaker or Kafka leaves its instrument out.
type Sources struct {
	Stats   func() pipeline.Snapshot
	Ready   func() (bool, string)
	Breaker func() sink.BreakerState
	// Concurrency is adaptive concurrency's current limit (0 when off).
	Concurrency func() int
	// Lanes are the lanes of several destinations (pipeline.Lanes); nil
	// or empty leaves the lane instruments out.
	Lanes func() []pipeline.LaneState
	// Kafka answers the consumer-lag probe of Topic for Group; it is asked at
	// most once per LagEvery (default 5s), whatever the collection rate.
	Kafka    *kafka.Client
	Topic    string
	Group    string
	LagEvery time.Duration
}

// Observe registers the observable instruments over src. Call it once.
func (t *Telemetry) Observe(src Sources) error {
	if src.Stats == nil {
		return errors.New("telemetry: Sources.Stats is required")
	}
	i, err := newPipelineInstruments(t.meter)
	if err != nil {
		return err
	}
	c := consumer{semconv.MessagingSystemKafka,
		semconv.MessagingDestinationName(src.Topic), semconv.MessagingConsumerGroupName(src.Group)}
	observables := i.list()
	var lag *lagProbe
	if src.Kafka != nil {
		lag = newLagProbe(src.Kafka, src.Topic, src.Group, src.LagEvery, t.log)
		observables = append(observables, i.lag)
	}
	_, err = t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		i.observeStats(o, src.Stats(), c)
		if src.Ready != nil {
			ready, _ := src.Ready()
			o.ObserveInt64(i.ready, boolInt(ready), c.with())
		}
		if src.Concurrency != nil {
			o.ObserveInt64(i.concurrency, int64(src.Concurrency()), c.with())
		}
		if src.Lanes != nil {
			for _, l := range src.Lanes() {
				attrs := c.with(attrAccount.String(l.Account), attrLane.String(l.Lane))
				o.ObserveInt64(i.laneOpen, boolInt(l.Open), attrs)
				o.ObserveInt64(i.laneHeld, l.Held, attrs)
				o.ObserveInt64(i.laneDone, l.Done, attrs)
			}
		}
		if src.Breaker != nil {
			now := src.Breaker()
			for _, s := range []sink.BreakerState{sink.BreakerClosed, sink.BreakerHalfOpen, sink.BreakerOpen} {
				o.ObserveInt64(i.breaker, boolInt(s == now), metric.WithAttributes(attrBreakerState.String(s.String())))
			}
		}
		if lag != nil {
			for part, n := range lag.get(ctx) {
				o.ObserveInt64(i.lag, n, c.with(semconv.MessagingDestinationPartitionID(strconv.Itoa(part))))
			}
		}
		return nil
	}, observables...)
	return err
}

// consumer are the attributes of every series about the consumption of one
// topic by one consumer group: messaging.system, messaging.destination.name
// and messaging.consumer.group.name.
type consumer []attribute.KeyValue

// with returns the consumer attributes followed by more.
func (c consumer) with(more ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append(c[:len(c):len(c)], more...)...)
}

// observeStats reports one Snapshot; see the README's metric table for the
// meaning of each series.
func (i *pipelineInstruments) observeStats(o metric.Observer, s pipeline.Snapshot, c consumer) {
	o.ObserveInt64(i.messages, s.Messages, c.with())
	event := func(typ, outcome string, n int64) {
		o.ObserveInt64(i.events, n, c.with(attrEventType.String(typ), attrOutcome.String(outcome)))
	}
	event("order", "processed", s.Orders)
	event("cancel", "processed", s.CancelEvents)
	event("identify", "applied", s.Identify)
	event("alias", "applied", s.Alias)
	event("delete", "applied", s.Delete)
	event(deadletter.ReasonIdentity, "dead_lettered", s.DeadLettered[deadletter.ReasonIdentity])
	event(deadletter.ReasonMalformed, "dead_lettered", s.DeadLettered[deadletter.ReasonMalformed])
	event(deadletter.ReasonPanic, "dead_lettered", s.DeadLettered[deadletter.ReasonPanic]-s.OrderPanics)
	for reason, n := range s.Dropped {
		event(reason, "dropped", n)
	}
	order := func(outcome string, n int64) {
		o.ObserveInt64(i.orders, n, c.with(attrOutcome.String(outcome)))
	}
	order("delivered", s.Delivered)
	order("skipped", s.Skipped)
	order(deadletter.ReasonInvalid, s.DeadLettered[deadletter.ReasonInvalid])
	order(deadletter.ReasonRejected, s.DeadLettered[deadletter.ReasonRejected])
	order(deadletter.ReasonPanic, s.OrderPanics)
	order(deadletter.ReasonConflict, s.DeadLettered[deadletter.ReasonConflict])
	for reason, n := range s.DeadLettered {
		o.ObserveInt64(i.deadLetters, n, c.with(attrReason.String(reason)))
	}
	for outcome, n := range map[string]int64{"kept": s.Clicks, "malformed": s.ClicksMalformed, "credited": s.Credited, "outside_window": s.ClicksOutsideWindow} {
		o.ObserveInt64(i.clicks, n, c.with(attrOutcome.String(outcome)))
	}
	for outcome, n := range s.Cancels {
		o.ObserveInt64(i.cancels, n, c.with(attrOutcome.String(outcome)))
	}
	o.ObserveInt64(i.redone, s.Redone, c.with())
	o.ObserveInt64(i.deadLetterFailures, s.DeadLetterFailures, c.with())
	o.ObserveInt64(i.commitFailures, s.CommitFailures, c.with())
	o.ObserveInt64(i.fetchErrors, s.FetchErrors, c.with())
	o.ObserveInt64(i.identityErrs, s.IdentityErrors, c.with())
	o.ObserveInt64(i.inFlight, s.InFlight, c.with())
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
