package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/demo"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
)

// The binaries the benchmarks run, built once per test process.
var (
	buildOnce         sync.Once
	relayBin, bareBin string
	buildErr          error
)

// tempDirs are the directories the benchmarks made (binaries, inputs),
// removed when the test process ends.
var tempDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func binaries(b *testing.B) (relay, bare string) {
	b.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "benchreport")
		if err != nil {
			buildErr = err
			return
		}
		tempDirs = append(tempDirs, dir)
		if relayBin, buildErr = harness.Build(dir); buildErr != nil {
			return
		}
		_, here, _, _ := runtime.Caller(0)
		bareBin = filepath.Join(dir, "bareconsumer")
		cmd := exec.Command("go", "build", "-o", bareBin, "./bareconsumer")
		cmd.Dir = filepath.Dir(here)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building bareconsumer: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return relayBin, bareBin
}

// startDoneEvents is the size of the start-to-done workload.
const startDoneEvents = 1_000_000

var (
	worldOnce sync.Once
	world     *harness.World
	worldErr  error
	runs      int // consumer groups used so far: each run has its own
)

// sharedWorld is one broker holding the 1M-event topic and one sandbox, for
// every run of BenchmarkStartToDone: each run consumes it in a fresh group.
func sharedWorld(b *testing.B) *harness.World {
	b.Helper()
	worldOnce.Do(func() {
		world, worldErr = harness.NewWorld(sandbox.Options{MaxOrders: startDoneEvents})
		if worldErr == nil {
			worldErr = world.Produce(startDoneEvents, 1)
		}
	})
	if worldErr != nil {
		b.Fatal(worldErr)
	}
	return world
}

// BenchmarkStartToDone times whole processes on a 1M-event topic, from the
// process start to done: for the relay, every valid order accepted by the
// sandbox and every offset committed; for the bare kafka-go consumer-group
// reader (bareconsumer), every message fetched and the offsets committed.
// It reports messages/s and events/s, CPU seconds per million messages
// (user + system, the whole process life) and peak RSS. Run with
// -benchtime=1x.
func BenchmarkStartToDone(b *testing.B) {
	relay, bare := binaries(b)
	w := sharedWorld(b)
	for _, c := range []struct{ name, state string }{{"relay/state=memory", "memory"}, {"relay/state=disk", "disk"}, {"bare", ""}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runs++
				group := "bench-" + strconv.Itoa(runs)
				var m procMetrics
				if c.state == "" {
					m = runBare(b, bare, w, group)
				} else {
					m = runRelay(b, relay, w, group, c.state)
				}
				b.ReportMetric(float64(w.Messages)/m.wall.Seconds(), "msgs/s")
				b.ReportMetric(float64(w.Events)/m.wall.Seconds(), "events/s")
				b.ReportMetric(m.cpu.Seconds()/float64(w.Messages)*1e6, "cpu-s/Mmsgs")
				b.ReportMetric(float64(m.rss)/(1<<20), "peak-RSS-MiB")
			}
		})
	}
}

type procMetrics struct {
	wall, cpu time.Duration
	rss       int64
}

// runRelay runs the relay binary on w in group until done. BENCH_RELAY_ENV
// adds settings (space-separated KEY=value); BENCH_RELAY_CPUPROFILE=path
// writes a 4-second CPU profile of the run to path.STATE.GROUP, the
// allocations of the whole run to path.STATE.GROUP.allocs and what is left
// on the heap once done to path.STATE.GROUP.heap.
func runRelay(b *testing.B, bin string, w *harness.World, group, state string) procMetrics {
	b.Helper()
	w.Sandbox.Reset()
	env := w.Env(append([]string{"KAFKA_GROUP_ID=" + group, "STATE_BACKEND=" + state, "STATE_DIR=" + b.TempDir()},
		strings.Fields(os.Getenv("BENCH_RELAY_ENV"))...)...)
	profiled := func() {}
	if out := os.Getenv("BENCH_RELAY_CPUPROFILE"); out != "" {
		env = append(env, "ADMIN_PPROF=true", "ADMIN_PPROF_ADDR=127.0.0.1:16060")
		profiled = profile(b, "http://127.0.0.1:16060/debug/pprof/profile?seconds=4", out+"."+state+"."+group)
	}
	began := time.Now()
	r, err := harness.Start(bin, env)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Kill()
	done := func() bool {
		return len(w.Sandbox.Orders()) >= len(w.Valid) && demo.Lag(w.Broker.Addr(), harness.Topic, group) == 0
	}
	if err := harness.WaitFor(5*time.Minute, "every order and the final commit", done, r); err != nil {
		b.Fatal(err)
	}
	wall := time.Since(began)
	rss := r.PeakRSS()
	profiled()
	if out := os.Getenv("BENCH_RELAY_CPUPROFILE"); out != "" {
		profile(b, "http://127.0.0.1:16060/debug/pprof/allocs", out+"."+state+"."+group+".allocs")()
		profile(b, "http://127.0.0.1:16060/debug/pprof/heap?gc=1", out+"."+state+"."+group+".heap")()
	}
	if err := r.Stop(30 * time.Second); err != nil {
		b.Fatal(err)
	}
	return procMetrics{wall: wall, cpu: r.CPU(), rss: rss}
}

func runBare(b *testing.B, bin string, w *harness.World, group string) procMetrics {
	b.Helper()
	cmd := exec.Command(bin, w.Broker.Addr(), harness.Topic, group, strconv.Itoa(w.Messages))
	cmd.Stderr = os.Stderr
	began := time.Now()
	out, err := cmd.Output()
	if err != nil {
		b.Fatal(err)
	}
	wall := time.Since(began)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	rss, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64) // its own VmHWM: a child's ru_maxrss counts the parent's pages before exec
	return procMetrics{wall: wall, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), rss: rss}
}

// profile fetches url (a CPU profile of the running relay) into path in the
// background; the returned func waits for it.
func profile(b *testing.B, url, path string) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var resp *http.Response
		var err error
		for range 100 { // until the relay listens
			if resp, err = http.Get(url); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // polling a port that is not open yet
		}
		if err != nil {
			b.Log("profile:", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			f.Close()
		}
		if err != nil {
			b.Log("profile:", err)
		}
	}()
	return func() { <-done }
}
