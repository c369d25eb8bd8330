package chaos

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one refersion-relay command run with arguments (run with a flag,
// replay), its stdout and stderr kept together, readable while it runs.
type proc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

// startProc runs bin with args and env.
func startProc(bin string, env []string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = env, &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Output is what the command wrote so far.
func (p *proc) Output() string { return p.out.String() }

// exited reports whether the command has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to limit for the exit and returns the exit error; it kills
// the command and fails if it takes longer.
func (p *proc) wait(limit time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		p.kill()
		return fmt.Errorf("%s: no exit within %v; output:\n%s", strings.Join(p.cmd.Args, " "), limit, tail(p.Output()))
	}
}

// stop sends SIGTERM and waits up to limit for the exit.
func (p *proc) stop(limit time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(limit)
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// waitUntil polls cond every 10ms until it holds; it fails when limit
// passes or when one of procs exits first.
func waitUntil(limit time.Duration, what string, cond func() bool, procs ...*proc) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		for _, p := range procs {
			if p.exited() {
				return fmt.Errorf("%s exited (%v) while waiting for %s; output:\n%s", p.cmd.Args[1], p.err, what, tail(p.Output()))
			}
		}
		if time.Now().After(deadline) {
			var logs []string
			for _, p := range procs {
				logs = append(logs, tail(p.Output()))
			}
			return fmt.Errorf("timed out after %v waiting for %s; output:\n%s", limit, what, strings.Join(logs, "\n---\n"))
		}
		<-tick.C
	}
	return nil
}

// tail is the end of a long output, for an error message.
func tail(s string) string {
	const most = 4000
	if len(s) <= most {
		return s
	}
	return "…" + s[len(s)-most:]
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
