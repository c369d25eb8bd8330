package pipeline

import (
	"sync"
	"testing"
)

// The pool never bounds how many jobs run: a job waiting for another (a
// parked delivery waiting for the lane it is held on) cannot keep that one
// from starting, however many wait.
func TestPoolRunsEveryJobWhateverTheOthersWaitFor(t *testing.T) {
	q := newPool()
	const n = 200
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n + 1)
	for range n {
		q.run(func() {
			defer done.Done()
			started.Done()
			<-release
		})
	}
	q.run(func() {
		defer done.Done()
		started.Wait() // every job above is running at once
		close(release)
	})
	done.Wait()

	// Later jobs run on the goroutines now idle, and after close on new ones.
	var again sync.WaitGroup
	again.Add(2 * n)
	for range n {
		q.run(again.Done)
	}
	q.close()
	for range n {
		q.run(again.Done)
	}
	again.Wait()
}
