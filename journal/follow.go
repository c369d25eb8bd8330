package journal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FollowOptions shape Follow.
type FollowOptions struct {
	Filter Filter
	// Backlog is how many of the newest matching entries come first: a
	// number, or -1 for every entry kept.
	Backlog int
	// Follow keeps following after the backlog: a stream that ends (the
	// relay restarting) is resumed after the last entry read, or from the
	// start of a new process's journal. Without it Follow returns once what
	// is kept has been read.
	Follow bool
	// Client makes the requests; nil means one without a time limit (a
	// stream has none).
	Client *http.Client
	// Notice, if not nil, hears what a reader should know of besides the
	// entries: entries lost because the follower fell behind, reconnections.
	Notice func(msg string)
	// Idle is how long a stream may stay silent before it is taken for
	// dead and reconnected (default 45s; the server writes a keepalive
	// every 15s), so that a connection lost without a word (a dropped
	// port-forward, a sleeping laptop) does not hang the follower.
	Idle time.Duration
}

// ErrNoJournal means the admin server answered 404 at StreamPath: a relay
// without a journal.
var ErrNoJournal = errors.New("the relay serves no journal at " + StreamPath + " (a version without one?)")

// Follow reads the journal stream of the admin server at base
// (http://HOST:PORT) and calls fn for each entry, in order, until ctx ends
// (it then returns nil), fn fails, or the first connection fails. With
// o.Follow, a stream that ends later is resumed, waiting up to 5s between
// tries.
func Follow(ctx context.Context, base string, o FollowOptions, fn func(Entry) error) error {
	client := o.Client
	if client == nil {
		client = &http.Client{}
	}
	notice := o.Notice
	if notice == nil {
		notice = func(string) {}
	}
	idle := o.Idle
	if idle <= 0 {
		idle = 45 * time.Second
	}
	var epoch string
	var seq uint64
	connected, wait := false, 250*time.Millisecond
	for {
		q := o.Filter.Query()
		if !o.Follow {
			q.Set("follow", "false")
		}
		if epoch == "" {
			n := "all"
			if o.Backlog >= 0 {
				n = strconv.Itoa(o.Backlog)
			}
			q.Set("n", n)
		} else {
			q.Set("epoch", epoch)
			q.Set("since", strconv.FormatUint(seq, 10))
		}
		err := func() error {
			ctx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			silent := time.AfterFunc(idle, func() { cancel(fmt.Errorf("no word from the relay for %v", idle)) })
			defer silent.Stop()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+StreamPath+"?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			req.Header.Set("Accept", "text/event-stream")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusNotFound:
				return ErrNoJournal
			case resp.StatusCode != http.StatusOK:
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return fmt.Errorf("%s answered %s: %s", base+StreamPath, resp.Status, strings.TrimSpace(string(b)))
			}
			if connected && wait > 250*time.Millisecond {
				notice("following again")
			}
			connected, wait = true, 250*time.Millisecond
			err = readEvents(resp.Body, func() { silent.Reset(idle) }, func(event string, data []byte) error {
				switch event {
				case "hello":
					var h struct {
						Epoch string `json:"epoch"`
					}
					if err := json.Unmarshal(data, &h); err != nil {
						return fmt.Errorf("hello: %w", err)
					}
					if epoch != "" && h.Epoch != epoch {
						notice("the relay restarted: following its new journal from its start")
					}
					epoch = h.Epoch
				case "outcome":
					var e Entry
					if err := json.Unmarshal(data, &e); err != nil {
						return fmt.Errorf("outcome: %w", err)
					}
					seq = e.Seq
					if err := fn(e); err != nil {
						return &callbackError{err}
					}
				case "lost":
					var l struct {
						Lost uint64 `json:"lost"`
					}
					_ = json.Unmarshal(data, &l)
					notice(fmt.Sprintf("%d outcomes were overwritten in the relay's journal before they could be read", l.Lost))
				}
				return nil
			})
			if cause := context.Cause(ctx); err != nil && cause != nil && cause != context.Canceled {
				return cause
			}
			return err
		}()
		var fnErr *callbackError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &fnErr):
			return fnErr.err
		case errors.Is(err, ErrNoJournal):
			return err
		case !connected:
			return err
		case !o.Follow:
			return err
		}
		if err == nil {
			err = io.EOF
		}
		if wait == 250*time.Millisecond {
			notice(fmt.Sprintf("stream ended (%v); reconnecting", err))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// callbackError carries fn's error out of readEvents, so that Follow
// returns it instead of reconnecting.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// readEvents parses a text/event-stream body and calls fn for each event,
// and alive for each line (keepalives included). It returns nil at the end
// of the body.
func readEvents(r io.Reader, alive func(), fn func(event string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var event string
	var data []byte
	for sc.Scan() {
		alive()
		line := sc.Text()
		if line == "" {
			if data != nil {
				if event == "" {
					event = "message"
				}
				if err := fn(event, data); err != nil {
					return err
				}
			}
			event, data = "", nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, value...)
		}
	}
	return sc.Err()
}
