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
	"time"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

func cmdRun(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("run", "run\n\nConsumes KAFKA_TOPIC and delivers its orders to Refersion until SIGTERM or SIGINT.\nEvery setting comes from the environment: see 'refersion-relay config --markdown'.", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return fmt.Errorf("the configuration is invalid:\n%w", err)
	}
	log := newLogger(cfg.Observability, stderr, logSecrets(cfg)...)
	slog.SetDefault(log) // what reaches the standard log (net/http, exporters) is masked too
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
	r, err := buildRelay(cfg, stores, log, withTelemetry(tel))
	if err != nil {
		return err
	}
	defer r.Close()

	admin, err := startAdmin(cfg.Observability.AdminAddr, r, stores, tel.MetricsHandler())
	if err != nil {
		return err
	}
	if cfg.Observability.Pprof {
		addr, err := startPprof(cfg.Observability.PprofAddr)
		if err != nil {
			return err
		}
		log.Info("profiler serving", "addr", addr)
	}
	log.Info("refersion-relay started", "version", version, "topic", cfg.Kafka.Topic, "group", cfg.Kafka.GroupID,
		"dead_letter_topic", cfg.Kafka.DLQTopic, "admin", admin.addr)
	err = r.pipeline.Run(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = admin.srv.Shutdown(shutdownCtx)
	s := r.pipeline.Stats()
	log.Info("refersion-relay stopped", "events", s.Events, "delivered", s.Delivered, "skipped", s.Skipped,
		"dead_lettered", s.DeadLetteredTotal(), "dropped", s.DroppedTotal())
	return err
}

// adminServer serves /healthz, /readyz and /metrics.
type adminServer struct {
	srv  *http.Server
	addr string
}

// startAdmin listens on addr and serves in the background. metrics may be nil.
func startAdmin(addr string, r *relay, stores *state.Stores, metrics http.Handler) (*adminServer, error) {
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
