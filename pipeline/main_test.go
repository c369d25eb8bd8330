package pipeline

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	poisonReused = true // see poisonReused
	os.Exit(m.Run())
}
