package pipeline

import "time"

// poolIdle is how long a pool goroutine waits for its next job before it
// ends.
const poolIdle = 5 * time.Second

// pool runs jobs on goroutines that outlive them. A delivery's stack has
// grown by the time it ends (net/http, JSON, the sink's layers), and the next
// job starts on that stack instead of growing a new goroutine's from 8 KiB,
// copying it at every doubling.
//
// The pool never bounds how many jobs run: the pipeline's worker slots do,
// and jobs parked on a lane in trouble run beside them. A goroutine idle for
// poolIdle ends, and so does every idle one once stop is closed.
type pool struct {
	idle chan func() // unbuffered: a send succeeds only to a waiting goroutine
	stop chan struct{}
}

func newPool() *pool { return &pool{idle: make(chan func()), stop: make(chan struct{})} }

// run starts job on an idle goroutine, or on a new one if none is idle.
func (q *pool) run(job func()) {
	select {
	case q.idle <- job:
	default:
		go q.loop(job)
	}
}

// close ends the idle goroutines now and the busy ones when their job ends.
func (q *pool) close() { close(q.stop) }

func (q *pool) loop(job func()) {
	t := time.NewTimer(poolIdle)
	defer t.Stop()
	for {
		job()
		job = nil // let the job's closure go while this goroutine waits
		t.Reset(poolIdle)
		select {
		case job = <-q.idle:
		case <-t.C:
			return
		case <-q.stop:
			return
		}
	}
}
