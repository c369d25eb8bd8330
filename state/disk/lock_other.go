//go:build !unix

package disk

import (
	"os"
	"time"
)

// lockShared does nothing where flock is missing: bbolt's own lock, taken
// right after the check, still keeps a second process out.
func lockShared(*os.File, time.Duration) error { return nil }
