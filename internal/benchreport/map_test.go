package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/storefront"
)

// mapEvents is the size of the map command's workload.
const mapEvents = 500_000

var (
	mapInputOnce sync.Once
	mapInput     string
	mapInputN    int
	mapInputErr  error
)

// mapStream writes the generated storefront stream the mapping benchmark
// uses (10% of lines batch envelopes), mapEvents events, to a file once.
func mapStream(b *testing.B) (path string, events int) {
	b.Helper()
	mapInputOnce.Do(func() {
		dir, err := os.MkdirTemp("", "benchreport-map")
		if err != nil {
			mapInputErr = err
			return
		}
		tempDirs = append(tempDirs, dir)
		mapInput = filepath.Join(dir, "events.ndjson")
		f, err := os.Create(mapInput)
		if err != nil {
			mapInputErr = err
			return
		}
		w := bufio.NewWriterSize(f, 1<<20)
		o := storefront.DefaultOptions()
		o.N, o.Batch = mapEvents, 0.1
		c, err := storefront.Generate(w, o)
		if err == nil {
			err = w.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		mapInputN, mapInputErr = c.Events(), err
	})
	if mapInputErr != nil {
		b.Fatal(mapInputErr)
	}
	return mapInput, mapInputN
}

// BenchmarkMapCommand runs `refersion-relay map` as its own process, the
// generated stream on its stdin (a file) and its stdout a pipe this process
// drains, and reports events/s from the process start to its exit. Run with
// -benchtime=1x.
func BenchmarkMapCommand(b *testing.B) {
	relay, _ := binaries(b)
	in, events := mapStream(b)
	for i := 0; i < b.N; i++ {
		f, err := os.Open(in)
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(relay, "map")
		cmd.Stdin = f
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		began := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, out); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(began)
		f.Close()
		b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	}
}
