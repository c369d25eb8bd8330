package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// cmdHealth asks a running relay's admin server whether it is ready (or,
// with --live, alive) and exits 0 if so, 1 if not, saying why: a container
// health check for images without a shell or curl.
func cmdHealth(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("health", "health [--addr HOST:PORT] [--live]\n\nExits 0 when the relay's /readyz (or /healthz with --live) answers 200, 1 otherwise,\nwith the relay's reason (\"not ready: consuming paused: ...\") on stderr.", stdout)
	addr := fs.String("addr", "127.0.0.1:9464", "the relay's ADMIN_ADDR: HOST:PORT, :PORT or http://HOST:PORT")
	live := fs.Bool("live", false, "check /healthz (the process is alive) instead of /readyz")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path := "/readyz"
	if *live {
		path = "/healthz"
	}
	base, err := adminURL(*addr)
	if err != nil {
		return fmt.Errorf("%w: --addr %q: %v", errUsage, *addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return fmt.Errorf("%w: --addr %q: %v", errUsage, *addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no answer from %s: %w", base+path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		reason := strings.TrimSpace(string(body))
		if reason == "" {
			reason = "no reason given"
		}
		return fmt.Errorf("%s answered %d: %s", base+path, resp.StatusCode, reason)
	}
	_, err = stdout.Write(body)
	return err
}

// adminURL turns --addr (HOST:PORT, :PORT, or a URL such as
// http://HOST:PORT) into the admin server's base URL, without a trailing
// slash. An empty host is this machine.
func adminURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme %s: want http or https", u.Scheme)
	}
	if u.Port() == "" {
		return "", fmt.Errorf("no port: want HOST:PORT, e.g. 127.0.0.1:9464")
	}
	host := u.Host
	if u.Hostname() == "" {
		host = "127.0.0.1" + host
	}
	return u.Scheme + "://" + host, nil
}
