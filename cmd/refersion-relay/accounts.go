package main

import (
	"fmt"
	"log/slog"
	"sort"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/store"
)

// destinations are where a run or a replay sends: one account (REFERSION_*
// keys), or the accounts of ACCOUNTS_FILE, each with its own webhook sink
// (keys, breaker, retry, rate limit, adaptive concurrency) and, with refunds
// on, its own REST API canceller; each account's order_ids kept apart in the
// shared state (store.SentOf, store.LedgerOf).
type destinations struct {
	router  *mapping.Router // nil with one account
	names   []string        // account names, sorted; [""] with one account
	sinks   map[string]*sink.Refersion
	cancels map[string]*sink.Canceller // empty with refunds off
}

// buildDestinations builds cfg's destinations; extra options (telemetry)
// go to every webhook sink. cfg must be valid.
func buildDestinations(cfg config.Config, stores *state.Stores, log *slog.Logger, extra ...sink.Option) (*destinations, error) {
	accts, err := cfg.LoadAccounts()
	if err != nil {
		return nil, err
	}
	d := &destinations{sinks: map[string]*sink.Refersion{}, cancels: map[string]*sink.Canceller{}}
	refunds := cfg.Mapping.Refunds()
	if accts == nil {
		sc := cfg.Refersion.SinkConfig()
		if err := d.add(cfg, "", sc, stores, log, refunds, extra, 0); err != nil {
			return nil, err
		}
		d.names = []string{""}
		return d, nil
	}
	var routes []mapping.Account
	for _, a := range accts.Accounts {
		routes = append(routes, mapping.Account{Name: a.Name, Select: a.Select, Default: a.Default, OrderPrefix: a.OrderPrefix})
		sc := cfg.Refersion.AccountSinkConfig(a)
		if err := d.add(cfg, a.Name, sc, stores, log.With("account", a.Name), refunds, extra, a.Concurrency); err != nil {
			d.Close()
			return nil, err
		}
		d.names = append(d.names, a.Name)
	}
	sort.Strings(d.names)
	if d.router, err = mapping.NewRouter(accts.Route, routes); err != nil {
		d.Close()
		return nil, fmt.Errorf("ACCOUNTS_FILE %s: %w", cfg.AccountsFile, err)
	}
	return d, nil
}

// add builds one account's sink and canceller from sc. concurrency, when
// above 0, caps the account's adaptive concurrency below PIPELINE_CONCURRENCY.
func (d *destinations) add(cfg config.Config, name string, sc sink.Config, stores *state.Stores, log *slog.Logger, refunds bool, extra []sink.Option, concurrency int) error {
	what := "refersion settings"
	if name != "" {
		what = "account " + name
	}
	sc.UserAgent, sc.Adaptive = userAgent(), cfg.Pipeline.AdaptiveConfig()
	if concurrency > 0 && sc.Adaptive.Max > concurrency {
		sc.Adaptive.Max = concurrency
	}
	opts := append([]sink.Option{sink.WithLogger(log)}, extra...)
	if refunds {
		opts = append(opts, sink.WithLedger(store.LedgerOf(stores.Ledger, name)))
	}
	s, err := sink.New(sc, store.SentOf(stores.Sent, name), opts...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	d.sinks[name] = s
	if !refunds {
		return nil
	}
	cc := sc
	cc.Endpoint, cc.Adaptive = cfg.Refersion.APIURL, sink.AdaptiveConfig{}
	c, err := sink.NewCanceller(cc, store.SentOf(stores.Sent, name), store.LedgerOf(stores.Ledger, name), sink.WithLogger(log))
	if err != nil {
		return fmt.Errorf("%s (REST API): %w", what, err)
	}
	d.cancels[name] = c
	return nil
}

// Close releases every sink's and canceller's connections.
func (d *destinations) Close() {
	for _, s := range d.sinks {
		s.Close()
	}
	for _, c := range d.cancels {
		c.Close()
	}
}

// lanes are the pipeline's lanes: nil with one account (the pipeline's own
// sink and Cancels then serve it).
func (d *destinations) lanes() map[string]pipeline.Lane {
	if d.router == nil {
		return nil
	}
	out := map[string]pipeline.Lane{}
	for _, name := range d.names {
		s := d.sinks[name]
		l := pipeline.Lane{Sink: s, Healthy: func() bool { return s.BreakerState() == sink.BreakerClosed }}
		if c, ok := d.cancels[name]; ok {
			l.Cancels = c
		}
		out[name] = l
	}
	return out
}

// one is the single account's sink, or the routing one with several.
func (d *destinations) one() sink.Sink {
	if d.router == nil {
		return d.sinks[""]
	}
	return sink.Accounts{Sinks: d.sinkMap(), Cancels: d.cancels}
}

func (d *destinations) sinkMap() map[string]sink.Sink {
	m := map[string]sink.Sink{}
	for name, s := range d.sinks {
		m[name] = s
	}
	return m
}

// canceller sends cancels to their account's REST API; nil with refunds off.
func (d *destinations) canceller() pipeline.Cancels {
	switch {
	case len(d.cancels) == 0:
		return nil
	case d.router == nil:
		return d.cancels[""]
	}
	return sink.Accounts{Sinks: d.sinkMap(), Cancels: d.cancels}
}

// processorOptions are cfg's processor options with the accounts' router.
func (d *destinations) processorOptions(cfg config.Config) processor.Options {
	o := cfg.Mapping.ProcessorOptions()
	o.Accounts = d.router
	return o
}

// breakerState is the worst of the accounts' webhook breakers: open if any
// is open, else half-open if any is, else closed.
func (d *destinations) breakerState() sink.BreakerState {
	worst := sink.BreakerClosed
	for _, s := range d.sinks {
		switch st := s.BreakerState(); {
		case st == sink.BreakerOpen:
			return st
		case st == sink.BreakerHalfOpen:
			worst = st
		}
	}
	return worst
}

// concurrencyLimit is the sum of the accounts' adaptive limits.
func (d *destinations) concurrencyLimit() int {
	n := 0
	for _, s := range d.sinks {
		n += s.ConcurrencyLimit()
	}
	return n
}

// accountSecrets are the keys of ACCOUNTS_FILE's accounts, for the logger to
// scrub; none when the file is unset or cannot be read.
func accountSecrets(cfg config.Config) []string {
	accts, err := cfg.LoadAccounts()
	if err != nil || accts == nil {
		return nil
	}
	var out []string
	for _, a := range accts.Accounts {
		out = append(out, a.PublicKey.Reveal(), a.SecretKey.Reveal())
	}
	return out
}
