package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"reflect"
	"strings"
	"unicode"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/sink"
)

func (r Refersion) check() []error {
	var errs []error
	if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("REFERSION_URL is not an http(s) URL: unset it to use Refersion's webhook, or set a full URL such as http://localhost:8080/tracker/orders/paid"))
	} else if u.Scheme == "http" && !loopback(u.Hostname()) && !r.AllowInsecure {
		errs = append(errs, fmt.Errorf("REFERSION_URL %s is plain http to another machine, so the keys would travel in clear: use https, or set REFERSION_ALLOW_INSECURE=true for a sandbox on a private network", quote("REFERSION_URL", r.URL)))
	}
	if u, err := url.Parse(r.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("REFERSION_API_URL is not an http(s) URL: unset it to use Refersion's REST API, or set a full URL such as http://localhost:8080/v2"))
	} else if u.Scheme == "http" && !loopback(u.Hostname()) && !r.AllowInsecure {
		errs = append(errs, fmt.Errorf("REFERSION_API_URL %s is plain http to another machine, so the keys would travel in clear: use https, or set REFERSION_ALLOW_INSECURE=true for a sandbox on a private network", quote("REFERSION_API_URL", r.APIURL)))
	}
	// A key given in any form that failed to resolve was reported by Load.
	// With ACCOUNTS_FILE, each account has its keys and these are optional.
	pub := r.PublicKey.IsSet() || r.PublicKeyFile != "" || r.APIKey.IsSet() || r.APIKeyFile != ""
	sec := r.SecretKey.IsSet() || r.SecretKeyFile != "" || r.APIKey.IsSet() || r.APIKeyFile != ""
	switch {
	case r.AccountsFile != "":
	case !pub && !sec:
		errs = append(errs, errors.New("REFERSION_PUBLIC_KEY and REFERSION_SECRET_KEY are not set: set both (Refersion > Account > Settings > Refersion API), or REFERSION_API_KEY=<public>.<secret>; each may be a _FILE path instead"))
	case !pub:
		errs = append(errs, errors.New("REFERSION_PUBLIC_KEY is not set: set it (or REFERSION_PUBLIC_KEY_FILE) along with REFERSION_SECRET_KEY"))
	case !sec:
		errs = append(errs, errors.New("REFERSION_SECRET_KEY is not set: set it (or REFERSION_SECRET_KEY_FILE) along with REFERSION_PUBLIC_KEY"))
	}
	for _, k := range []struct {
		name string
		v    Secret
	}{{"REFERSION_PUBLIC_KEY", r.PublicKey}, {"REFERSION_SECRET_KEY", r.SecretKey}} {
		if strings.ContainsFunc(k.v.Reveal(), func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
			errs = append(errs, fmt.Errorf("%s contains whitespace or control characters, which cannot be sent in a header: copy the key again", k.name))
		}
	}
	errs = appendErr(errs, positive("REFERSION_REQUEST_TIMEOUT", r.RequestTimeout))
	errs = appendErr(errs, atLeast("REFERSION_RETRY_MAX_ATTEMPTS", r.RetryMaxAttempts, 1))
	errs = appendErr(errs, positive("REFERSION_RETRY_MAX_ELAPSED", r.RetryMaxElapsed))
	errs = appendErr(errs, positive("REFERSION_RETRY_INITIAL_BACKOFF", r.RetryInitialBackoff))
	if r.RetryMaxBackoff < r.RetryInitialBackoff {
		errs = append(errs, errors.New("REFERSION_RETRY_MAX_BACKOFF is shorter than REFERSION_RETRY_INITIAL_BACKOFF: raise it, e.g. REFERSION_RETRY_MAX_BACKOFF=30s"))
	}
	errs = appendErr(errs, atLeast("REFERSION_BREAKER_FAILURES", r.BreakerFailures, 1))
	errs = appendErr(errs, positive("REFERSION_BREAKER_OPEN_TIMEOUT", r.BreakerOpenTimeout))
	if r.RateLimit < 0 || math.IsNaN(r.RateLimit) || math.IsInf(r.RateLimit, 0) {
		errs = append(errs, errors.New("REFERSION_RATE_LIMIT must be a finite number of requests per second, 0 or more: set it like REFERSION_RATE_LIMIT=20, or 0 for no limit"))
	}
	if r.RateLimit > 0 {
		errs = appendErr(errs, atLeast("REFERSION_RATE_BURST", r.RateBurst, 1))
	} else {
		errs = appendErr(errs, atLeast("REFERSION_RATE_BURST", r.RateBurst, 0))
	}
	if r.BreakerFailures > math.MaxUint32 {
		errs = append(errs, fmt.Errorf("REFERSION_BREAKER_FAILURES %d is too large: set it like REFERSION_BREAKER_FAILURES=5", r.BreakerFailures))
	}
	return errs
}

// SinkConfig is the webhook sink's configuration for these settings:
// REFERSION_URL is Endpoint, the keys are Keys, REFERSION_REQUEST_TIMEOUT is
// RequestTimeout, REFERSION_RETRY_* are Retry, REFERSION_BREAKER_* are
// Breaker and REFERSION_RATE_* are RateLimit.
func (r Refersion) SinkConfig() sink.Config {
	pub, sec := r.PublicKey.Reveal(), r.SecretKey.Reveal()
	return sink.Config{
		Endpoint:       r.URL,
		Keys:           sink.NewKeys(pub, sec),
		RequestTimeout: r.RequestTimeout,
		Retry: sink.RetryConfig{
			MaxAttempts:     r.RetryMaxAttempts,
			InitialInterval: r.RetryInitialBackoff,
			MaxInterval:     r.RetryMaxBackoff,
			MaxElapsed:      r.RetryMaxElapsed,
		},
		Breaker:   sink.BreakerConfig{Failures: uint32(min(max(r.BreakerFailures, 0), math.MaxUint32)), OpenTimeout: r.BreakerOpenTimeout},
		RateLimit: sink.RateLimitConfig{PerSecond: r.RateLimit, Burst: r.RateBurst},
	}
}

// AdaptiveConfig is the sink's adaptive concurrency for these settings:
// capped by PIPELINE_CONCURRENCY, off when PIPELINE_ADAPTIVE is false.
func (p Pipeline) AdaptiveConfig() sink.AdaptiveConfig {
	if !p.Adaptive {
		return sink.AdaptiveConfig{}
	}
	return sink.AdaptiveConfig{Max: p.Concurrency}
}

func (m Mapping) check() []error {
	var errs []error
	if len(m.OrderEvents) == 0 {
		errs = append(errs, errors.New("ORDER_EVENTS is empty, so no event would be an order: unset it to use Order Completed,Completed Order, or set a comma list of track event names"))
	}
	if len(m.CartIDSources) == 0 {
		errs = append(errs, errors.New("CART_ID_SOURCES is empty, so no order would have a cart_id: unset it to use cart_id,checkout_id, or set a comma list of property names"))
	}
	errs = appendErr(errs, positive("ATTRIBUTION_WINDOW", m.AttributionWindow))
	return append(errs, stageProblems[Mapping](m.MapperOptions().Validate())...)
}

// Refunds reports whether refund or cancellation events are configured, so
// that cancels are sent (and delivered orders recorded in the ledger).
func (m Mapping) Refunds() bool { return len(m.RefundEvents)+len(m.CancelEvents) > 0 }

// ProcessorOptions are the event processor's options for these settings.
func (m Mapping) ProcessorOptions() processor.Options {
	return processor.Options{ClickCapture: m.ClickCapture, AttributionWindow: m.AttributionWindow}
}

// MapperOptions are the mapping stage's options for these settings.
func (m Mapping) MapperOptions() mapping.Options {
	return mapping.Options{OrderEvents: m.OrderEvents, CartIDSources: m.CartIDSources, DefaultCurrency: m.DefaultCurrency,
		RefundEvents: m.RefundEvents, CancelEvents: m.CancelEvents}
}

// stageProblems splits err, a stage's joined Validate error, and renames
// each problem that names one of the stage's options (a
// *mapping.OptionError) after the variable that sets it: S is the config
// struct whose fields are named like the stage's options. The value a
// problem quotes is shown as Print would show it. A problem that names no
// such option is kept as the stage wrote it.
func stageProblems[S any](err error) []error {
	var out []error
	for _, e := range unjoin(err) {
		var oe *mapping.OptionError
		if errors.As(e, &oe) {
			if f, ok := reflect.TypeFor[S]().FieldByName(oe.Option); ok {
				if name, ok := f.Tag.Lookup("envconfig"); ok {
					e = fmt.Errorf("%s %s %s: %s", name, quote(name, oe.Value), oe.Reason, oe.Fix)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// unjoin returns the errors errors.Join joined into err, err alone when it
// is not joined, or nothing when it is nil.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Validate reports the problems of the state settings alone, joined, or nil:
// for commands that need the stores but neither Kafka nor Refersion.
func (s State) Validate() error { return errors.Join(s.check()...) }

func (s State) check() []error {
	var errs []error
	errs = appendErr(errs, oneOf("STATE_BACKEND", s.Backend, "memory", "disk", "redis"))
	if s.Backend == "disk" && s.Dir == "" {
		errs = append(errs, fmt.Errorf("STATE_DIR is empty but STATE_BACKEND is disk: %s", setLike("STATE_DIR")))
	}
	switch {
	case s.Backend == "redis" && !s.RedisURL.IsSet():
		errs = append(errs, errors.New("REDIS_URL is empty but STATE_BACKEND is redis: set it like REDIS_URL=redis://redis:6379/0"))
	case s.Backend == "redis":
		if u, err := url.Parse(s.RedisURL.Reveal()); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			errs = append(errs, errors.New("REDIS_URL is not a redis:// or rediss:// URL: set it like REDIS_URL=redis://:password@redis:6379/0"))
		}
	case s.RedisURL.IsSet() && s.Backend != "":
		errs = append(errs, fmt.Errorf("REDIS_URL is set but STATE_BACKEND is %s: set STATE_BACKEND=redis, or unset REDIS_URL", s.Backend))
	}
	errs = appendErr(errs, positive("IDENTITY_TTL", s.IdentityTTL))
	errs = appendErr(errs, positive("SENT_TTL", s.SentTTL))
	if s.MemoryMaxBytes != 0 { // 0, as in a State built by hand, is the default
		errs = appendErr(errs, atLeast("STATE_MEMORY_MAX_BYTES", s.MemoryMaxBytes, 1<<20))
	}
	return appendErr(errs, atLeast("STATE_MEMORY_MAX_ENTRIES", s.MemoryMaxEntries, 1))
}

func (o Observability) check() []error {
	var errs []error
	if !isHostPort(o.AdminAddr, false) {
		errs = append(errs, fmt.Errorf("ADMIN_ADDR %s is not host:port: %s", quote("ADMIN_ADDR", o.AdminAddr), setLike("ADMIN_ADDR")))
	}
	if o.AdminToken.IsSet() && len(o.AdminToken.Reveal()) < minAdminToken {
		errs = append(errs, fmt.Errorf("ADMIN_TOKEN is shorter than %d characters: set a random one, e.g. ADMIN_TOKEN=$(openssl rand -hex 16)", minAdminToken))
	}
	if o.JournalSize != 0 { // 0, as in a Config built by hand, is the default
		errs = appendErr(errs, atLeast("JOURNAL_SIZE", o.JournalSize, 1))
	}
	errs = appendErr(errs, oneOf("LOG_LEVEL", o.LogLevel, "debug", "info", "warn", "error"))
	return appendErr(errs, oneOf("LOG_FORMAT", o.LogFormat, "json", "text", "auto"))
}

// minAdminToken is ADMIN_TOKEN's least length: it guards actions that send
// orders to Refersion.
const minAdminToken = 16

func (p Pipeline) check() []error {
	var errs []error
	errs = appendErr(errs, atLeast("PIPELINE_CONCURRENCY", p.Concurrency, 1))
	errs = appendErr(errs, atLeast("PIPELINE_POISON_ATTEMPTS", p.PoisonAttempts, 1))
	errs = appendErr(errs, atLeast("PIPELINE_HELD_LIMIT", p.HeldLimit, 1))
	errs = appendErr(errs, positive("PIPELINE_POISON_AFTER", p.PoisonAfter))
	errs = appendErr(errs, atLeast("PIPELINE_REJECTION_LIMIT", p.RejectionLimit, 0))
	return appendErr(errs, positive("DRAIN_TIMEOUT", p.DrainTimeout))
}

// loopback reports whether host is this machine: localhost or a loopback
// address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
