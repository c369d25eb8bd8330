package statetest

import (
	"testing"
)

// outcome records how StartRedis ended a test, without ending this one.
type outcome struct {
	testing.TB
	how string
}

type stopped struct{}

func (o *outcome) Fatal(...any) { o.how = "fatal"; panic(stopped{}) }
func (o *outcome) Skip(...any)  { o.how = "skip"; panic(stopped{}) }
func (o *outcome) Helper()      {}

func startWithout(t *testing.T, ci string) string {
	t.Setenv("PATH", t.TempDir()) // no redis-server on it
	t.Setenv("CI", ci)
	o := &outcome{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != (stopped{}) {
				panic(r)
			}
		}()
		StartRedis(o)
	}()
	return o.how
}

func TestMissingRedisServerFailsUnderCI(t *testing.T) {
	if how := startWithout(t, "true"); how != "fatal" {
		t.Fatalf("without redis-server under CI=true the test ends by %q, want fatal", how)
	}
}

func TestMissingRedisServerSkipsLocally(t *testing.T) {
	if how := startWithout(t, ""); how != "skip" {
		t.Fatalf("without redis-server locally the test ends by %q, want skip", how)
	}
}
