package telemetry

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// pipelineInstruments are the observable instruments of Observe. The names
// are OpenTelemetry's; the Prometheus exporter turns dots into underscores
// and adds _total to counters (the README lists the scraped names).
type pipelineInstruments struct {
	messages, events, orders, deadLetters     metric.Int64ObservableCounter
	redone, deadLetterFailures, clicks        metric.Int64ObservableCounter
	cancels                                   metric.Int64ObservableCounter
	commitFailures, fetchErrors, identityErrs metric.Int64ObservableCounter
	inFlight                                  metric.Int64ObservableUpDownCounter
	ready, breaker, lag, concurrency          metric.Int64ObservableGauge
	laneOpen, laneHeld                        metric.Int64ObservableGauge
	laneDone                                  metric.Int64ObservableCounter
}

func newPipelineInstruments(m metric.Meter) (*pipelineInstruments, error) {
	var i pipelineInstruments
	var errs []error
	counter := func(dst *metric.Int64ObservableCounter, name, unit, desc string) {
		var err error
		*dst, err = m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
	}
	gauge := func(dst *metric.Int64ObservableGauge, name, unit, desc string) {
		var err error
		*dst, err = m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
	}
	counter(&i.messages, "messaging.client.consumed.messages", "{message}",
		"Kafka messages fetched from the source topic (a batch envelope is one message).")
	counter(&i.events, "refersion_relay.events.consumed", "{event}",
		"Events handled, by type and outcome: orders processed, identity updates applied, events dropped by reason, events dead-lettered.")
	counter(&i.orders, "refersion_relay.orders", "{order}",
		"Order events by final outcome: delivered, skipped (already sent), invalid or rejected (both dead-lettered).")
	counter(&i.deadLetters, "refersion_relay.dead_letter.writes", "{message}",
		"Events acknowledged by the dead-letter topic, by reason.")
	counter(&i.clicks, "refersion_relay.clicks", "{event}",
		"Click capture: affiliate clicks kept, unusable rfsn values, orders credited to a click, orders whose last click was outside the window.")
	counter(&i.cancels, "refersion_relay.cancels", "{event}",
		"Refunds and cancellations settled without a dead letter, by outcome: cancelled, clamped, nothing_to_cancel, no_conversion, already_done.")
	counter(&i.redone, "refersion_relay.orders.redone", "{order}",
		"Orders tried again because the destination was unavailable (outage, breaker open, retries exhausted).")
	counter(&i.deadLetterFailures, "refersion_relay.dead_letter.write_failures", "{error}",
		"Failed writes to the dead-letter topic; each is retried.")
	counter(&i.commitFailures, "refersion_relay.commit.failures", "{error}",
		"Failed offset commits; the next commit of the partition covers them.")
	counter(&i.fetchErrors, "refersion_relay.fetch.errors", "{error}",
		"Failed fetches from Kafka.")
	counter(&i.identityErrs, "refersion_relay.identity.errors", "{error}",
		"Failed identity store reads or writes; each is retried while fetching waits.")
	var err error
	i.inFlight, err = m.Int64ObservableUpDownCounter("refersion_relay.in_flight", metric.WithUnit("{job}"),
		metric.WithDescription("Deliveries and dead-letter writes in progress."))
	errs = append(errs, err)
	gauge(&i.ready, "refersion_relay.ready", "",
		"1 while consuming (a group member, not paused), else 0; /readyz says why.")
	gauge(&i.breaker, "refersion_relay.breaker.state", "",
		"1 for the circuit breaker's current state (closed, half-open, open), 0 for the others.")
	gauge(&i.concurrency, "refersion_relay.concurrency.limit", "{request}",
		"Adaptive concurrency's current limit of requests in flight to Refersion (PIPELINE_ADAPTIVE); 0 when off.")
	gauge(&i.laneOpen, "refersion_relay.lane.open", "",
		"With several destinations (accounts, or refunds on): 1 while a lane (an account's orders or cancels) flows, 0 while it holds its work.")
	gauge(&i.laneHeld, "refersion_relay.lane.held", "{order}",
		"Orders or cancels a lane in trouble holds (uncommitted, in memory); at PIPELINE_HELD_LIMIT in all, fetching pauses.")
	counter(&i.laneDone, "refersion_relay.lane.done", "{order}",
		"Orders delivered, or cancels settled, through each lane (account and lane).")
	gauge(&i.lag, "refersion_relay.consumer.lag", "{message}",
		"Messages of a partition not yet committed by the consumer group (end offset minus committed offset).")
	return &i, errors.Join(errs...)
}

// list is every instrument the callback may observe, except lag, which is
// added only when there is a Kafka client to ask.
func (i *pipelineInstruments) list() []metric.Observable {
	return []metric.Observable{
		i.messages, i.events, i.orders, i.deadLetters, i.redone, i.deadLetterFailures, i.clicks, i.cancels,
		i.commitFailures, i.fetchErrors, i.identityErrs, i.inFlight, i.ready, i.breaker, i.concurrency,
		i.laneOpen, i.laneHeld, i.laneDone,
	}
}
