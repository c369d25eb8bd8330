// Package config reads refersion-relay's settings from the environment.
//
// Config has one struct per stage. Every field carries its variable name
// (envconfig tag), default and description; the README's configuration table
// is generated from those tags by Markdown, and Print lists the effective
// values in the same order. Stage structs are embedded so that envconfig adds
// no prefix: each variable is exactly the name in its tag.
//
// Credentials are Secret (or URL) values: every printed form is masked.
// REFERSION_URL stays a string for the code that sends to it; its mask:"url"
// tag makes Print, Markdown and Validate's messages mask it like a URL, but
// fmt or slog given the struct itself show that string whole.
// REFERSION_PUBLIC_KEY, REFERSION_SECRET_KEY, REFERSION_API_KEY and
// KAFKA_SASL_PASSWORD may each be given instead as a *_FILE path whose content
// (whitespace trimmed) is the value, for Kubernetes secrets mounted as files.
// ACCOUNTS_FILE names a file of several Refersion accounts, each with its
// keys (LoadAccounts); Validate reads it.
//
// OpenTelemetry's own variables (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_EXPORTER_OTLP_*, ...) are read by the OTel SDK, not by this package.
package config

import "time"

// Config is every setting of refersion-relay. Load fills it from the
// environment; Validate reports every problem at once.
type Config struct {
	Kafka
	Refersion
	Mapping
	State
	Observability
	Pipeline

	// problems found while Load resolved secrets (unreadable *_FILE, two
	// forms of one key, malformed REFERSION_API_KEY); Validate reports them.
	problems []error
}

// Kafka is the source topic, its consumer group and the dead-letter topic.
type Kafka struct {
	Brokers           []string      `envconfig:"KAFKA_BROKERS" default:"" desc:"Comma list of bootstrap brokers, host:port."`
	Topic             string        `envconfig:"KAFKA_TOPIC" default:"" desc:"Topic of Segment-spec events to consume."`
	GroupID           string        `envconfig:"KAFKA_GROUP_ID" default:"refersion-relay" desc:"Consumer group; offsets are committed under it."`
	DLQTopic          string        `envconfig:"KAFKA_DLQ_TOPIC" default:"" desc:"Dead-letter topic for orders that can never be delivered. Empty means KAFKA_TOPIC followed by .refersion-dlq."`
	DLQMaxBytes       int           `envconfig:"KAFKA_DLQ_MAX_BYTES" default:"921600" desc:"Largest dead-letter record written, in bytes (key, event and headers); keep it under the topic's max.message.bytes. Past it, problems are summarised and the event is cut; its whole bytes stay at the source offset."`
	StartOffset       string        `envconfig:"KAFKA_START_OFFSET" default:"earliest" desc:"Where a consumer group with no committed offset starts: earliest or latest."`
	MaxBytes          int           `envconfig:"KAFKA_MAX_BYTES" default:"1048576" desc:"Largest fetch response accepted, in bytes; at least 524288 so a full Segment batch fits."`
	MaxWait           time.Duration `envconfig:"KAFKA_MAX_WAIT" default:"500ms" desc:"How long the broker may hold a fetch that has no new messages."`
	SessionTimeout    time.Duration `envconfig:"KAFKA_SESSION_TIMEOUT" default:"30s" desc:"Consumer-group session: a member silent this long loses its partitions."`
	HeartbeatInterval time.Duration `envconfig:"KAFKA_HEARTBEAT_INTERVAL" default:"3s" desc:"Consumer-group heartbeat; also how quickly a rebalance is noticed."`
	RebalanceTimeout  time.Duration `envconfig:"KAFKA_REBALANCE_TIMEOUT" default:"30s" desc:"How long the group waits for members to rejoin during a rebalance."`
	CommitInterval    time.Duration `envconfig:"KAFKA_COMMIT_INTERVAL" default:"1s" desc:"Least time between two offset commits of a partition; 0 commits as soon as the handled prefix grows (commits still coalesce under load)."`
	TLS
	SASL
}

// TLS secures the connection to the brokers.
type TLS struct {
	Enabled            bool   `envconfig:"KAFKA_TLS_ENABLED" default:"false" desc:"Connect to the brokers over TLS."`
	CAFile             string `envconfig:"KAFKA_TLS_CA_FILE" default:"" desc:"PEM bundle of CAs that sign the brokers' certificates; empty means the system roots."`
	CertFile           string `envconfig:"KAFKA_TLS_CERT_FILE" default:"" desc:"PEM client certificate, for mutual TLS (with KAFKA_TLS_KEY_FILE)."`
	KeyFile            string `envconfig:"KAFKA_TLS_KEY_FILE" default:"" desc:"PEM private key of KAFKA_TLS_CERT_FILE."`
	InsecureSkipVerify bool   `envconfig:"KAFKA_TLS_INSECURE_SKIP_VERIFY" default:"false" desc:"Accept any broker certificate. For local testing only."`
}

// SASL authenticates to the brokers.
type SASL struct {
	Mechanism    string `envconfig:"KAFKA_SASL_MECHANISM" default:"none" desc:"none, plain, scram-sha-256 or scram-sha-512."`
	Username     string `envconfig:"KAFKA_SASL_USERNAME" default:"" desc:"SASL user name."`
	Password     Secret `envconfig:"KAFKA_SASL_PASSWORD" default:"" desc:"SASL password (masked when printed)."`
	PasswordFile string `envconfig:"KAFKA_SASL_PASSWORD_FILE" default:"" desc:"File holding the SASL password, instead of KAFKA_SASL_PASSWORD."`
}

// Refersion is the destination webhook, its keys and the delivery policy:
// rate limit, then retry, then circuit breaker, then one HTTP request.
type Refersion struct {
	URL                 string        `envconfig:"REFERSION_URL" default:"https://inbound-webhooks.refersion.com/tracker/orders/paid" mask:"url" desc:"Refersion's paid-order webhook (credentials in it masked when printed)."`
	APIURL              string        `envconfig:"REFERSION_API_URL" default:"https://api.refersion.com/v2" mask:"url" desc:"Refersion's REST API, where refunds and cancellations go (POST /conversion/cancel); its own breaker, so that an API outage never stops paid orders."`
	AllowInsecure       bool          `envconfig:"REFERSION_ALLOW_INSECURE" default:"false" desc:"Allow a plain http:// REFERSION_URL to a host other than this machine; the keys then travel in clear. For a sandbox on a private network only."`
	PublicKey           Secret        `envconfig:"REFERSION_PUBLIC_KEY" default:"" print:"plain" desc:"Public key, from Refersion > Account > Settings > Refersion API (shown when printed: it identifies the account and is useless without the secret key)."`
	SecretKey           Secret        `envconfig:"REFERSION_SECRET_KEY" default:"" desc:"Secret key (masked when printed)."`
	APIKey              Secret        `envconfig:"REFERSION_API_KEY" default:"" print:"public-part" desc:"Both keys as one value, public.secret, instead of the two variables above (the secret part masked when printed)."`
	PublicKeyFile       string        `envconfig:"REFERSION_PUBLIC_KEY_FILE" default:"" desc:"File holding REFERSION_PUBLIC_KEY."`
	SecretKeyFile       string        `envconfig:"REFERSION_SECRET_KEY_FILE" default:"" desc:"File holding REFERSION_SECRET_KEY."`
	APIKeyFile          string        `envconfig:"REFERSION_API_KEY_FILE" default:"" desc:"File holding REFERSION_API_KEY."`
	AccountsFile        string        `envconfig:"ACCOUNTS_FILE" default:"" desc:"YAML or JSON file of several Refersion accounts fed by one stream (see Several accounts, and deploy/accounts.example.yaml): the event field that chooses the account, then each account's select values, keys (the names of variables or files holding them, never the keys), order-id prefix, rate limit and concurrency. When set, REFERSION_PUBLIC_KEY, REFERSION_SECRET_KEY and REFERSION_API_KEY are optional."`
	RequestTimeout      time.Duration `envconfig:"REFERSION_REQUEST_TIMEOUT" default:"10s" desc:"Time limit of one HTTP request."`
	RetryMaxAttempts    int           `envconfig:"REFERSION_RETRY_MAX_ATTEMPTS" default:"8" desc:"Requests per order before a retryable failure is given up; 1 means no retry."`
	RetryMaxElapsed     time.Duration `envconfig:"REFERSION_RETRY_MAX_ELAPSED" default:"2m" desc:"Time limit of all attempts for one order."`
	RetryInitialBackoff time.Duration `envconfig:"REFERSION_RETRY_INITIAL_BACKOFF" default:"500ms" desc:"Delay before the first retry; it doubles, with jitter, up to REFERSION_RETRY_MAX_BACKOFF."`
	RetryMaxBackoff     time.Duration `envconfig:"REFERSION_RETRY_MAX_BACKOFF" default:"30s" desc:"Longest delay between two attempts."`
	BreakerFailures     int           `envconfig:"REFERSION_BREAKER_FAILURES" default:"5" desc:"Consecutive failed requests that open the circuit breaker (consumption pauses)."`
	BreakerOpenTimeout  time.Duration `envconfig:"REFERSION_BREAKER_OPEN_TIMEOUT" default:"30s" desc:"How long the breaker stays open before one trial request."`
	RateLimit           float64       `envconfig:"REFERSION_RATE_LIMIT" default:"0" desc:"Requests per second to Refersion; 0 means no limit."`
	RateBurst           int           `envconfig:"REFERSION_RATE_BURST" default:"10" desc:"Requests allowed at once above REFERSION_RATE_LIMIT."`
}

// Mapping is how events become orders.
type Mapping struct {
	OrderEvents       []string      `envconfig:"ORDER_EVENTS" default:"Order Completed,Completed Order" desc:"Comma list of track event names that are orders."`
	CartIDSources     []string      `envconfig:"CART_ID_SOURCES" default:"cart_id,checkout_id" desc:"Comma list of properties read for cart_id; the first present wins."`
	DefaultCurrency   string        `envconfig:"DEFAULT_CURRENCY" default:"" desc:"ISO 4217 code used when an order has no currency; empty means such an order is invalid."`
	ClickCapture      bool          `envconfig:"CLICK_CAPTURE" default:"false" desc:"Credit orders to affiliate clicks the browser tracker never saw (ad blockers): the last ?rfsn= click of a person on a page or track event, within ATTRIBUTION_WINDOW before the order, sets auto_credit_affiliate_id when the order has none."`
	AttributionWindow time.Duration `envconfig:"ATTRIBUTION_WINDOW" default:"720h" desc:"How long a captured click credits the person's orders (CLICK_CAPTURE), by event timestamps: 720h is 30 days."`
	RefundEvents      []string      `envconfig:"REFUND_EVENTS" default:"" desc:"Comma list of track event names that refund part or all of an order, such as Order Refunded; empty (for now the default) keeps them dropped tracks."`
	CancelEvents      []string      `envconfig:"CANCEL_EVENTS" default:"" desc:"Comma list of track event names that cancel an order, such as Order Cancelled; empty (for now the default) keeps them dropped tracks."`
}

// State is where identities and sent order ids are kept.
type State struct {
	Backend          string        `envconfig:"STATE_BACKEND" default:"disk" desc:"memory (lost on restart), disk (STATE_DIR) or redis (REDIS_URL)."`
	Dir              string        `envconfig:"STATE_DIR" default:"./refersion-relay-state" desc:"Directory of the disk backend."`
	RedisURL         URL           `envconfig:"REDIS_URL" default:"" desc:"redis:// or rediss:// URL of the redis backend (credentials in it masked when printed)."`
	RedisURLFile     string        `envconfig:"REDIS_URL_FILE" default:"" desc:"File holding REDIS_URL, for a URL that carries a password."`
	IdentityTTL      time.Duration `envconfig:"IDENTITY_TTL" default:"2160h" desc:"How long a customer learned from identify is kept (90 days)."`
	SentTTL          time.Duration `envconfig:"SENT_TTL" default:"720h" desc:"How long a sent order id is remembered, so it is never sent twice (30 days)."`
	MemoryMaxEntries int           `envconfig:"STATE_MEMORY_MAX_ENTRIES" default:"1000000" desc:"Entries per store of the memory backend, a second bound beside STATE_MEMORY_MAX_BYTES; the oldest are evicted first."`
	MemoryMaxBytes   int           `envconfig:"STATE_MEMORY_MAX_BYTES" default:"33554432" desc:"Memory the memory backend's identity and sent-order stores may hold, in bytes, half each (33554432 is 32 MiB: about 57,000 sent order ids and 48,000 ids of people); the oldest entries are evicted first. Keep it well under the container's memory limit."`
	AcceptNew        bool          `envconfig:"STATE_ACCEPT_NEW" default:"false" desc:"Let run start on a sent-order store that is new (no store id, no order id) although the consumer group has committed offsets: after sent.db was lost, emptied or damaged, or Redis restarted without persistence. Orders read again may then be sent again; without it run refuses to start, saying why (same as run --accept-new-state)."`
}

// Observability is the admin server and logging. Metrics and traces are
// configured by the OTel SDK's own OTEL_* variables.
type Observability struct {
	AdminAddr string `envconfig:"ADMIN_ADDR" default:":9464" desc:"Listen address of the admin HTTP server (metrics, health, readiness, the journal's stream and the console). When ADMIN_TOKEN is set and ADMIN_ADDR is not, 127.0.0.1:9464: this machine only."`

	// AdminToken enables the console's actions (replaying dead letters);
	// without it the console is read-only.
	AdminToken     Secret `envconfig:"ADMIN_TOKEN" default:"" desc:"Enables the console's actions (replaying dead letters), for requests that carry it as a bearer token; empty keeps the console read-only. At least 16 characters (masked when printed); it moves ADMIN_ADDR's default to 127.0.0.1:9464."`
	AdminTokenFile string `envconfig:"ADMIN_TOKEN_FILE" default:"" desc:"File holding ADMIN_TOKEN."`
	JournalSize    int    `envconfig:"JOURNAL_SIZE" default:"10000" desc:"Recent outcomes (orders, cancels, dead letters) kept in memory for refersion-relay tail and the console; the oldest is overwritten first. About 200 bytes each, up to 600 with Refersion's answer."`

	LogLevel  string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error."`
	LogFormat string `envconfig:"LOG_FORMAT" default:"auto" desc:"json, text, or auto (text on a terminal, json otherwise)."`
	LogPII    bool   `envconfig:"LOG_PII" default:"false" desc:"Log personal data (emails, names, IPs). Keep false in production."`
	Pprof     bool   `envconfig:"ADMIN_PPROF" default:"false" desc:"Serve Go's profiler at /debug/pprof/ on ADMIN_PPROF_ADDR, for performance investigations."`
	PprofAddr string `envconfig:"ADMIN_PPROF_ADDR" default:"127.0.0.1:6060" desc:"Address of the profiler when ADMIN_PPROF is true: this machine only by default, since profiles show the process's memory. Bind it elsewhere only on purpose."`
}

// Pipeline is how many messages are worked on at once and how shutdown drains.
type Pipeline struct {
	Concurrency    int           `envconfig:"PIPELINE_CONCURRENCY" default:"64" desc:"Messages in flight at once across all partitions."`
	Adaptive       bool          `envconfig:"PIPELINE_ADAPTIVE" default:"true" desc:"Adaptive concurrency: requests in flight to Refersion grow while its latency holds and back off on 429/503 or rising latency, up to PIPELINE_CONCURRENCY. false keeps PIPELINE_CONCURRENCY fixed."`
	DrainTimeout   time.Duration `envconfig:"DRAIN_TIMEOUT" default:"25s" desc:"On SIGTERM, time given to in-flight orders before exit; unfinished ones are redone after restart."`
	PoisonAttempts int           `envconfig:"PIPELINE_POISON_ATTEMPTS" default:"10" desc:"An order Refersion keeps failing (5xx, timeouts) while accepting others is dead-lettered as undelivered after this many redos and PIPELINE_POISON_AFTER; an outage never dead-letters."`
	PoisonAfter    time.Duration `envconfig:"PIPELINE_POISON_AFTER" default:"2m" desc:"Least time an order is redone before it can be dead-lettered as undelivered (see PIPELINE_POISON_ATTEMPTS)."`
	RejectionLimit int           `envconfig:"PIPELINE_REJECTION_LIMIT" default:"20" desc:"Orders rejected in a row (4xx, redirects) with no delivery between that mean REFERSION_URL is wrong: consuming stops until a restart, and no more orders are dead-lettered. 0 never stops."`
	HeldLimit      int           `envconfig:"PIPELINE_HELD_LIMIT" default:"1000" desc:"With several destinations (ACCOUNTS_FILE, or refunds on), orders and cancels held by one in trouble (an outage, refused keys) while the others flow; at this many, fetching pauses for all. Held work stays uncommitted and in memory: each held order keeps its event and mapped payload, a few KiB."`
}
