package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Relay is one running refersion-relay process.
type Relay struct {
	Cmd    *exec.Cmd
	stderr lockedBuffer
	done   chan struct{}
	err    error
}

// Start runs `bin run` with env.
func Start(bin string, env []string) (*Relay, error) {
	r := &Relay{Cmd: exec.Command(bin, "run"), done: make(chan struct{})}
	r.Cmd.Env, r.Cmd.Stderr = env, &r.stderr
	if err := r.Cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		r.err = r.Cmd.Wait()
		close(r.done)
	}()
	return r, nil
}

// Exited is closed when the process has exited.
func (r *Relay) Exited() <-chan struct{} { return r.done }

// Err is the process's exit error; valid after Exited is closed.
func (r *Relay) Err() error { return r.err }

// Stderr returns what the process wrote to stderr so far.
func (r *Relay) Stderr() string { return r.stderr.String() }

// Kill sends SIGKILL and waits for the exit.
func (r *Relay) Kill() {
	_ = r.Cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// Stop sends SIGTERM and waits up to limit for the exit; it kills the
// process and returns an error if it takes longer.
func (r *Relay) Stop(limit time.Duration) error {
	_ = r.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		return r.err
	case <-time.After(limit):
		r.Kill()
		return fmt.Errorf("no exit within %v of SIGTERM", limit)
	}
}

// PeakRSS is the process's peak resident set size in bytes (VmHWM), or 0.
func (r *Relay) PeakRSS() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", r.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// CPU is the user plus system CPU time of an exited process.
func (r *Relay) CPU() time.Duration {
	ru, ok := r.Cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// WaitFor polls cond every 10ms until it holds. It fails when limit passes
// or when one of relays exits first.
func WaitFor(limit time.Duration, what string, cond func() bool, relays ...*Relay) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		for _, r := range relays {
			select {
			case <-r.done:
				return fmt.Errorf("relay exited (%v) while waiting for %s; stderr:\n%s", r.err, what, r.Stderr())
			default:
			}
		}
		if time.Now().After(deadline) {
			var logs []string
			for _, r := range relays {
				logs = append(logs, r.Stderr())
			}
			return fmt.Errorf("timed out after %v waiting for %s; relay stderr:\n%s", limit, what, strings.Join(logs, "\n---\n"))
		}
		<-tick.C
	}
	return nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // keep the tail bounded
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// AdminAddr waits up to 30s for the relay's start line (LOG_LEVEL info or
// lower) and returns the admin address it names.
func (r *Relay) AdminAddr() (string, error) {
	var addr string
	found := func() bool {
		for _, line := range strings.Split(r.Stderr(), "\n") {
			var rec struct {
				Msg   string `json:"msg"`
				Admin string `json:"admin"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "refersion-relay started" {
				addr = rec.Admin
				return true
			}
		}
		return false
	}
	return addr, WaitFor(30*time.Second, "the start line", found, r)
}

// Readyz returns the /readyz answer of the admin address addr ("ready", or
// "not ready: why"), or the error that kept it from answering.
func Readyz(addr string) string {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}
