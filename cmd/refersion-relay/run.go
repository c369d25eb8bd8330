package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/telemetry"
	"github.com/segmentio/kafka-go"
)

func cmdRun(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("run", runSynopsis, stdout)
	acceptNew := fs.Bool("accept-new-state", false, "start on a sent-order store that is new although the consumer group has committed offsets (STATE_ACCEPT_NEW): orders read again may be sent again")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return invalid(err)
	}
	log := newLogger(cfg.Observability, stderr, logSecrets(cfg)...)
	slog.SetDefault(log) // what reaches the standard log (net/http, exporters) is masked too
	if err := checkSourceTopic(ctx, cfg, log); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceVersion: version, Logger: log})
	if err != nil {
		return err
	}
	defer shutdownTelemetry(tel, log)
	stores, err := state.Open(ctx, cfg.State, state.WithLogger(log))
	if err != nil {
		return err
	}
	defer stores.Close()
	if cfg.State.Backend != "memory" { // memory state is new on every start, by design
		_, transport, err := cfg.Kafka.Clients()
		if err != nil {
			return err
		}
		kc := &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Timeout: 10 * time.Second}
		if transport != nil {
			kc.Transport = transport
		}
		if err := stores.CheckNew(ctx, state.KafkaGroup(kc, cfg.Kafka.Topic, cfg.Kafka.GroupID), cfg.State.AcceptNew || *acceptNew); err != nil {
			return err
		}
	}
	r, err := buildRelay(cfg, stores, log, withTelemetry(tel))
	if err != nil {
		return err
	}
	defer r.Close()
	// SIGHUP reloads ACCOUNTS_FILE (and never ends the process).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				r.reloadAccounts(cfg, stores, log)
			}
		}
	}()

	oc, err := newConsole(cfg, r, stores, log)
	if err != nil {
		return err
	}
	defer oc.Close()
	admin, err := startAdmin(cfg.Observability.AdminAddr, r, stores, tel.MetricsHandler(), oc.routes)
	if err != nil {
		return err
	}
	admin.srv.RegisterOnShutdown(oc.shutdown)
	if cfg.Observability.Pprof {
		addr, err := startPprof(cfg.Observability.PprofAddr)
		if err != nil {
			return err
		}
		log.Info("profiler serving", "addr", addr)
	}
	log.Info("refersion-relay started", "version", version, "topic", cfg.Kafka.Topic, "group", cfg.Kafka.GroupID,
		"dead_letter_topic", cfg.Kafka.DLQTopic, "destination", destination(cfg.Refersion.URL), "state", stateDescription(cfg.State),
		"admin", admin.addr, "console_actions", cfg.Observability.AdminToken.IsSet())
	// Said at once on SIGTERM: the drain may take up to DRAIN_TIMEOUT, and
	// nothing else is logged until it ends.
	stopDrainLine := context.AfterFunc(ctx, func() {
		log.Info(fmt.Sprintf("stopping: draining work in flight (up to %s)", cfg.Pipeline.DrainTimeout), "drain_timeout", cfg.Pipeline.DrainTimeout)
	})
	defer stopDrainLine()
	err = r.pipeline.Run(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = admin.srv.Shutdown(shutdownCtx)
	s := r.pipeline.Stats()
	log.Info("refersion-relay stopped", "events", s.Events, "delivered", s.Delivered, "skipped", s.Skipped,
		"dead_lettered", s.DeadLetteredTotal(), "dropped", s.DroppedTotal())
	return err
}

const runSynopsis = `run

Consumes KAFKA_TOPIC and delivers its orders to Refersion until SIGTERM or SIGINT.
Every setting comes from the environment (one flag below says yes to a new state store). Those a first run needs:

  KAFKA_BROKERS         comma list of bootstrap brokers, host:port
  KAFKA_TOPIC           topic of Segment events; it must exist
  REFERSION_API_KEY     public.secret (or REFERSION_PUBLIC_KEY and REFERSION_SECRET_KEY,
                        or their _FILE forms)
  REFERSION_URL         the webhook (default Refersion's); a sandbox's for a test
  STATE_BACKEND         disk (default, in STATE_DIR), redis (REDIS_URL) or memory
  ADMIN_ADDR            /healthz, /readyz, /metrics, the console at / and the journal
                        that 'refersion-relay tail' follows (default :9464)
  ADMIN_TOKEN           enables the console's replays (ADMIN_ADDR then defaults to
                        127.0.0.1:9464)
  LOG_LEVEL, LOG_FORMAT debug|info|warn|error; json|text|auto
  DRAIN_TIMEOUT         time given to work in flight after SIGTERM (default 25s)

'refersion-relay config' checks them and prints the effective configuration;
'refersion-relay config --markdown' lists every variable with its default.`

// checkSourceTopic fails when the brokers say KAFKA_TOPIC does not exist: a
// typo would otherwise give a ready relay that reads nothing (brokers that
// create topics on first use would even create it). When the brokers cannot
// be asked, it logs a warning and lets the consumer wait for them, as it
// does for a broker outage.
func checkSourceTopic(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	_, transport, err := cfg.Kafka.Clients()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	switch err := checkTopic(ctx, cfg.Kafka.Brokers, transport, cfg.Kafka.Topic); {
	case errors.Is(err, errNoTopic):
		return fmt.Errorf("KAFKA_TOPIC %s does not exist on %s: correct KAFKA_TOPIC, or create the topic (the relay never creates it)",
			cfg.Kafka.Topic, strings.Join(cfg.Kafka.Brokers, ","))
	case err != nil:
		log.Warn("could not check that KAFKA_TOPIC exists; starting anyway", "topic", cfg.Kafka.Topic, "error", err)
	}
	return nil
}

// destination is where orders go, for the start line: scheme, host and
// path of REFERSION_URL, never its credentials or query.
func destination(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(REFERSION_URL does not parse)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// stateDescription names the state backend and where it keeps its data,
// without credentials: "disk ./refersion-relay-state", "redis redis:6379",
// "memory".
func stateDescription(s config.State) string {
	switch s.Backend {
	case "disk":
		return "disk " + s.Dir
	case "redis":
		if u, err := url.Parse(s.RedisURL.Reveal()); err == nil && u.Host != "" {
			return "redis " + u.Host
		}
	}
	return s.Backend
}

// adminServer serves /healthz, /readyz and /metrics, and the console and
// the journal's stream (console.go).
type adminServer struct {
	srv  *http.Server
	addr string
}

// startAdmin listens on addr and serves in the background. metrics may be
// nil; routes add more handlers (the console's).
func startAdmin(addr string, r *relay, stores *state.Stores, metrics http.Handler, routes ...func(*http.ServeMux)) (*adminServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		// The stores are checked in every state, so that a pause names every
		// cause (a store that is down while Refersion is down too, say).
		ready, reason := r.pipeline.Ready()
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if err := stores.Ping(ctx); err != nil {
			if ready {
				ready, reason = false, err.Error()
			} else {
				reason += "; " + err.Error()
			}
		}
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready: "+reason+"\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	for _, add := range routes {
		add(mux)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ADMIN_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Default().Error("admin server", "error", err)
		}
	}()
	return &adminServer{srv: srv, addr: ln.Addr().String()}, nil
}

// startPprof serves Go's profiler on addr (loopback by default: a profile
// shows the process's memory) in the background and returns the address.
func startPprof(addr string) (string, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("ADMIN_PPROF_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}
