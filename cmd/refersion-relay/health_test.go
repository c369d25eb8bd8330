package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"
)

func TestHealthReportsReadiness(t *testing.T) {
	ready := false
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: paused\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	var out bytes.Buffer
	if err := cmdHealth(context.Background(), []string{"--addr", addr}, nil, &out, &out); err == nil {
		t.Fatalf("not ready, but health passed: %s", out.String())
	}
	if err := cmdHealth(context.Background(), []string{"--addr", addr, "--live"}, nil, &out, &out); err != nil {
		t.Fatalf("alive, but --live failed: %v", err)
	}
	ready = true
	if err := cmdHealth(context.Background(), []string{"--addr", addr}, nil, &out, &out); err != nil {
		t.Fatalf("ready, but health failed: %v", err)
	}
	if err := cmdHealth(context.Background(), []string{"--addr", "127.0.0.1:1"}, nil, &out, &out); err == nil {
		t.Fatal("nothing listening, but health passed")
	}
}
