package sink

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// DefaultEndpoint is Refersion's paid-order webhook.
const DefaultEndpoint = "https://inbound-webhooks.refersion.com/tracker/orders/paid"

// Config configures the sink New builds. A zero field takes the default in
// its comment; Keys has none and is required.
type Config struct {
	Endpoint        string        // webhook URL, http or https; default DefaultEndpoint
	Keys            Keys          // required
	RequestTimeout  time.Duration // limit of one HTTP request, body read included; default 10s
	MaxResponseBody int64         // bytes of a response body read; default 64 KiB
	MaxIdleConns    int           // keep-alive connections kept to the endpoint; default 256
	UserAgent       string        // default "refersion-relay"
	// ClaimLease is how long a sent-order claim holds before another sender
	// may take it; it must outlast one whole Send. Default: Retry.MaxElapsed
	// + RequestTimeout + 1m.
	ClaimLease time.Duration
	Retry      RetryConfig
	Breaker    BreakerConfig
	RateLimit  RateLimitConfig
	Adaptive   AdaptiveConfig
}

// RetryConfig bounds the one retry layer: exponential backoff with full
// jitter, Retry-After honoured.
type RetryConfig struct {
	MaxAttempts     int           // requests per Send, the first included; 1 means no retry; default 8
	InitialInterval time.Duration // cap of the first wait; default 500ms
	MaxInterval     time.Duration // cap of any backoff wait; default 30s
	Multiplier      float64       // growth of the cap per attempt; default 2
	MaxElapsed      time.Duration // time limit of all attempts of one Send; default 2m
}

// BreakerConfig sets the circuit breaker around the HTTP call.
type BreakerConfig struct {
	Failures    uint32        // consecutive failed requests that open it; default 5
	OpenTimeout time.Duration // how long it stays open before trial requests; default 30s
	HalfOpenMax uint32        // trial requests let through while half-open; default 1
}

// RateLimitConfig limits orders per second. It is off when PerSecond is 0.
type RateLimitConfig struct {
	PerSecond float64 // sustained orders per second; 0 means no limit
	Burst     int     // orders allowed at once; default max(1, ceil(PerSecond))
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	def(&c.RequestTimeout, 10*time.Second)
	if c.MaxResponseBody == 0 {
		c.MaxResponseBody = 64 << 10
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = 256
	}
	if c.UserAgent == "" {
		c.UserAgent = "refersion-relay"
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = 8
	}
	def(&c.Retry.InitialInterval, 500*time.Millisecond)
	def(&c.Retry.MaxInterval, 30*time.Second)
	if c.Retry.Multiplier == 0 {
		c.Retry.Multiplier = 2
	}
	def(&c.Retry.MaxElapsed, 2*time.Minute)
	def(&c.ClaimLease, c.Retry.MaxElapsed+c.RequestTimeout+time.Minute)
	if c.Breaker.Failures == 0 {
		c.Breaker.Failures = 5
	}
	def(&c.Breaker.OpenTimeout, 30*time.Second)
	if c.Breaker.HalfOpenMax == 0 {
		c.Breaker.HalfOpenMax = 1
	}
	if c.RateLimit.PerSecond > 0 && c.RateLimit.Burst == 0 {
		c.RateLimit.Burst = max(1, int(c.RateLimit.PerSecond+0.999999))
	}
	return c
}

// Validate reports every invalid field at once, by name. It never quotes Keys.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sink config: %s: "+format, append([]any{field}, args...)...))
	}
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("Endpoint", "want an absolute http or https URL")
	}
	if !c.Keys.IsSet() {
		bad("Keys", "required (both the public and the secret key)")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"RequestTimeout", c.RequestTimeout}, {"ClaimLease", c.ClaimLease},
		{"Retry.InitialInterval", c.Retry.InitialInterval}, {"Retry.MaxInterval", c.Retry.MaxInterval},
		{"Retry.MaxElapsed", c.Retry.MaxElapsed}, {"Breaker.OpenTimeout", c.Breaker.OpenTimeout},
	} {
		if d.v < 0 {
			bad(d.name, "%v is negative", d.v)
		}
	}
	if c.MaxResponseBody < 0 {
		bad("MaxResponseBody", "%d is negative", c.MaxResponseBody)
	}
	if c.MaxIdleConns < 0 {
		bad("MaxIdleConns", "%d is negative", c.MaxIdleConns)
	}
	if c.Retry.MaxAttempts < 0 {
		bad("Retry.MaxAttempts", "%d is negative", c.Retry.MaxAttempts)
	}
	if c.Retry.Multiplier < 1 {
		bad("Retry.Multiplier", "%v is less than 1", c.Retry.Multiplier)
	}
	if c.Retry.MaxInterval < c.Retry.InitialInterval {
		bad("Retry.MaxInterval", "%v is less than Retry.InitialInterval %v", c.Retry.MaxInterval, c.Retry.InitialInterval)
	}
	if c.RateLimit.PerSecond < 0 || c.RateLimit.Burst < 0 {
		bad("RateLimit", "PerSecond and Burst must not be negative")
	}
	return errors.Join(errs...)
}
