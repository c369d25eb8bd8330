//go:build unix

package disk

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lockShared takes a shared lock of f, as a bbolt reader would, waiting at
// most timeout while a writer (another process's bbolt) holds it; it
// returns ErrLocked then. Closing f releases it.
func lockShared(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(50 * time.Millisecond) // polling, as bbolt's own flock does
	}
}
