package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// go-redis has one logger for the whole process, which by default prints
// raw lines on stderr ("redis: ... connection refused" from its pool, on
// every failed dial while the server is down). The stores replace it with
// clientLog, which turns those lines, and the stores' own errors, into
// structured records of state changes: the first failure after success at
// warn level, later ones counted but not logged, and one line at info level
// when the server answers again, with the count and how long it was down.

// SetLogger routes go-redis's log lines, and the stores' state changes, to
// log; nil means slog.Default() at the time of each line. go-redis's logger
// is process-wide, so the last call wins for every client of the process.
// The stores install the routing themselves (to slog.Default()) when they
// are built; SetLogger only picks the destination.
func SetLogger(log *slog.Logger) {
	logs.out.Store(log)
	install()
}

var (
	logs        = &clientLog{now: time.Now}
	installOnce sync.Once
)

// install replaces go-redis's logger with logs, once per process.
func install() { installOnce.Do(func() { goredis.SetLogger(logs) }) }

// addSecret makes every later line hide s (a password of a client).
func addSecret(s string) { logs.addSecret(s) }

// clientLog is go-redis's logger (it implements its Printf) and the state
// of the stores' connection to the server as the log has told it.
type clientLog struct {
	out atomic.Pointer[slog.Logger] // nil: slog.Default()
	now func() time.Time

	failing atomic.Bool // read without mu on every successful call

	mu      sync.Mutex
	since   time.Time // of the first failure of the current outage
	repeats int       // failures since, not logged
	secrets []string
}

func (l *clientLog) logger() *slog.Logger {
	if lg := l.out.Load(); lg != nil {
		return lg
	}
	return slog.Default()
}

// Printf implements go-redis's internal.Logging: every line go-redis
// writes is about a failure (with its default log level, errors only).
func (l *clientLog) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l.failed(ctx, "redis client", msg)
}

// failed records a failure: logged at warn level if it starts an outage,
// else counted.
func (l *clientLog) failed(ctx context.Context, source, msg string) {
	l.mu.Lock()
	if l.failing.Load() {
		l.repeats++
		l.mu.Unlock()
		return
	}
	l.failing.Store(true)
	l.since, l.repeats = l.now(), 0
	msg = l.redact(msg)
	l.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	l.logger().LogAttrs(ctx, slog.LevelWarn, "redis state store failing; further errors are counted until it answers again",
		slog.String("source", source), slog.String("error", msg))
}

// ok records a call the server answered: logged at info level if it ends
// an outage.
func (l *clientLog) ok(ctx context.Context) {
	if !l.failing.Load() {
		return
	}
	l.mu.Lock()
	if !l.failing.Load() {
		l.mu.Unlock()
		return
	}
	l.failing.Store(false)
	down, repeats := l.now().Sub(l.since), l.repeats
	l.mu.Unlock()
	l.logger().LogAttrs(ctx, slog.LevelInfo, "redis state store answers again",
		slog.Duration("down_for", down.Round(time.Millisecond)), slog.Int("errors_not_logged", repeats))
}

// userinfo matches the credentials of a URL.
var userinfo = regexp.MustCompile(`(://)[^@/\s]*@`)

// redact hides the registered secrets and any URL's credentials. l.mu is
// held.
func (l *clientLog) redact(msg string) string {
	for _, s := range l.secrets {
		msg = strings.ReplaceAll(msg, s, "***")
	}
	return userinfo.ReplaceAllString(msg, "${1}***@")
}

func (l *clientLog) addSecret(s string) {
	if s == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, have := range l.secrets {
		if have == s {
			return
		}
	}
	l.secrets = append(l.secrets, s)
}
