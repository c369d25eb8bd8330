package statetest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

	tb   testing.TB
	bin  string
	dir  string
	args []string
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
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		srv := &RedisServer{Socket: filepath.Join(dir, "redis.sock"), Port: port, tb: tb, bin: bin, dir: dir, args: args}
		if err = srv.start(); err == nil {
			return srv
		}
		if attempt == 3 {
			tb.Fatal(err)
		}
	}
}

// start runs one redis-server on s's socket and port and waits until it
// answers. Another process may take the free port first; the caller then
// tries again.
func (s *RedisServer) start() error {
	tb, args := s.tb, s.args
	cmd := exec.Command(s.bin, append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.Port),
		"--unixsocket", s.Socket, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning"}, args...)...)
	var out bytes.Buffer // the server's warnings, shown only if it fails
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
	}
	tb.Cleanup(s.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.answers()
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			exited <- werr
			return fmt.Errorf("redis-server exited: %v\n%s", werr, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer in 10s: %v", err)
		}
	}
}

// answers sends PING on the socket and reads the reply: PONG, or NOAUTH
// when the server wants a password, both mean it is up. It speaks the
// protocol itself, not through go-redis: its failures while the server
// starts are no outage of a store, and go-redis would log them as one.
func (s *RedisServer) answers() error {
	conn, err := net.DialTimeout("unix", s.Socket, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(reply, "+PONG") || strings.HasPrefix(reply, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING answered %q", strings.TrimSpace(reply))
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

// Restart starts the server again after Stop, empty, on the same socket and
// port, as a recovery from an outage would; it fails the test if it cannot.
func (s *RedisServer) Restart() {
	s.tb.Helper()
	s.stop()
	if err := s.start(); err != nil {
		s.tb.Fatal(err)
	}
}

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
