package statetest

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"
)

// CaptureStderr redirects the process's file descriptor 2 to a pipe until
// the returned function is called, which restores it and returns what was
// written meanwhile. It catches writers that hold an *os.File of their own
// for stderr (go-redis's default logger does), which replacing os.Stderr
// would not. The test's own output goes to stdout and is not caught. Not
// for parallel tests.
func CaptureStderr(tb testing.TB) (stop func() string) {
	tb.Helper()
	saved, err := syscall.Dup(2)
	if err != nil {
		tb.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Dup3(int(w.Fd()), 2, 0); err != nil {
		tb.Fatal(err)
	}
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(&got, r)
		close(done)
	}()
	restored := false
	restore := func() {
		if !restored {
			restored = true
			_ = syscall.Dup3(saved, 2, 0)
			_ = syscall.Close(saved)
			_ = w.Close()
		}
	}
	tb.Cleanup(restore)
	return func() string {
		restore()
		<-done
		_ = r.Close()
		return got.String()
	}
}
