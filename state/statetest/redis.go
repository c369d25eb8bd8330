package statetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server process started for tests. It listens on a
// unix socket and on a free loopback port, keeps nothing on disk, and is
// stopped when the test that started it ends.
type RedisServer struct {
	Socket string // path of its unix socket
	Port   int    // its TCP port on 127.0.0.1
	stop   func()
}

// StartRedis starts a redis-server for tb, with args added to its command
// line (such as "--requirepass", "pw"). When redis-server is not on
// PATH it skips tb, or fails it when the environment variable CI is true
// (CI must run the redis backend's tests: .ci/ensure-redis.sh installs it).
func StartRedis(tb testing.TB, args ...string) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server is not installed (run .ci/ensure-redis.sh): " + err.Error()
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	// A short directory: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "redis")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	for attempt := 1; ; attempt++ {
		srv, err := start(tb, bin, dir, args)
		if err == nil {
			return srv
		}
		if attempt == 3 {
			tb.Fatal(err)
		}
	}
}

// start runs one redis-server and waits until it answers. Another process
// may take the free port first; the caller then tries again.
func start(tb testing.TB, bin, dir string, args []string) (*RedisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	srv := &RedisServer{Socket: filepath.Join(dir, "redis.sock"), Port: port}
	cmd := exec.Command(bin, append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--unixsocket", srv.Socket, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning"}, args...)...)
	var out bytes.Buffer // the server's warnings, shown only if it fails
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	srv.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
	}
	tb.Cleanup(srv.stop)
	o := srv.Options()
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--requirepass" {
			o.Password = args[i+1]
		}
	}
	c := goredis.NewClient(o)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return srv, nil
		}
		select {
		case werr := <-exited:
			exited <- werr
			return nil, fmt.Errorf("redis-server exited: %v\n%s", werr, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("redis-server did not answer in 10s: %v", err)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop kills the server, as an outage would.
func (s *RedisServer) Stop() { s.stop() }

// Options returns client options for the server's unix socket.
func (s *RedisServer) Options() *goredis.Options {
	return &goredis.Options{Network: "unix", Addr: s.Socket}
}

// Client returns a new client of the server, closed when tb ends.
func (s *RedisServer) Client(tb testing.TB) *goredis.Client {
	c := goredis.NewClient(s.Options())
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// URL returns the server's TCP address as REDIS_URL would give it.
func (s *RedisServer) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(s.Port) + "/0" }
