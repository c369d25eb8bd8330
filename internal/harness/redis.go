package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// Redis is a redis-server process that keeps its data in an append-only
// file fsynced on every write, so that it can be restarted without losing
// anything. It listens on one loopback port for its whole life.
type Redis struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts redis-server in dir on a free loopback port.
func StartRedis(dir string) (*Redis, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &Redis{dir: dir, port: port}
	return r, r.start()
}

// URL is the REDIS_URL of the server.
func (r *Redis) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

func (r *Redis) start() error {
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--loglevel", "warning")
	r.done = make(chan struct{})
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("redis-server exited at start")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("redis-server did not answer on port %d", r.port)
}

// Restart stops the server (it flushes its append-only file) and starts it
// again on the same port with the same data, after down.
func (r *Redis) Restart(ctx context.Context, down time.Duration) error {
	r.Stop()
	select {
	case <-time.After(down):
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.start()
}

// Stop ends the server with SIGTERM and waits for it.
func (r *Redis) Stop() {
	_ = r.cmd.Process.Signal(os.Interrupt)
	<-r.done
}
