//go:build !linux

package statetest

import "testing"

// CaptureStderr is implemented on Linux only; elsewhere it skips tb.
func CaptureStderr(tb testing.TB) (stop func() string) {
	tb.Helper()
	tb.Skip("capturing file descriptor 2 is implemented on Linux only")
	return nil
}
