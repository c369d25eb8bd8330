package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

func TestInjectedFaultsApplyInOrderThenStop(t *testing.T) {
	s := start(t, sandbox.Options{})
	s.Inject(sandbox.Fail, sandbox.Throttle, sandbox.ErrorBody)
	want := []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusOK, http.StatusOK}
	for i, status := range want {
		if r := post(t, s, validOrder("1")); r.status != status {
			t.Fatalf("request %d: status %d, want %d (%s)", i, r.status, status, r.body)
		}
	}
	st := s.Stats()
	if st.Failed != 1 || st.Throttled != 1 || st.Rejected != 1 || st.Accepted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestErrorBodyFaultIsA200CarryingError(t *testing.T) {
	s := start(t, sandbox.Options{})
	s.Inject(sandbox.ErrorBody)
	if r := post(t, s, validOrder("1")); r.status != http.StatusOK || !bytes.Contains([]byte(r.body), []byte(`"error"`)) {
		t.Fatalf("got %d %s", r.status, r.body)
	}
}

func TestThrottleSendsRetryAfterInSeconds(t *testing.T) {
	s := start(t, sandbox.Options{RetryAfter: 1500 * time.Millisecond})
	s.Inject(sandbox.Throttle)
	r := post(t, s, validOrder("1"))
	if got := r.header.Get("Retry-After"); got != "2" {
		t.Fatalf("Retry-After %q, want 2 (1.5s rounded up)", got)
	}
}

func TestThrottleSendsRetryAfterAsHTTPDate(t *testing.T) {
	s := start(t, sandbox.Options{RetryAfter: 3 * time.Second, RetryAfterDate: true})
	s.Inject(sandbox.Throttle)
	before := time.Now()
	r := post(t, s, validOrder("1"))
	at, err := http.ParseTime(r.header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q: %v", r.header.Get("Retry-After"), err)
	}
	if d := at.Sub(before); d < 2*time.Second || d > 5*time.Second {
		t.Fatalf("Retry-After is %v from now, want about 3s", d)
	}
}

func TestResetDropsTheConnectionMidResponse(t *testing.T) {
	s := start(t, sandbox.Options{})
	s.Inject(sandbox.Reset)
	resp, err := http.Post(s.Endpoint(), "application/json", bytes.NewBufferString(validOrder("1")))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("reset request answered %d", resp.StatusCode)
	}
	if st := s.Stats(); st.Resets != 1 || st.Accepted != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStallHoldsTheRequestUntilTheClientGivesUp(t *testing.T) {
	s := start(t, sandbox.Options{})
	s.Inject(sandbox.Stall)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint(), bytes.NewBufferString(validOrder("1")))
	if resp, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("stalled request: %v", err)
	}
}

func TestSeededFaultsAreReproducible(t *testing.T) {
	run := func() string {
		s := start(t, sandbox.Options{Seed: 42, FailRate: 0.3, ThrottleRate: 0.2})
		var seq []byte
		for range 40 {
			seq = strconv.AppendInt(seq, int64(post(t, s, validOrder("1")).status), 10)
			seq = append(seq, ' ')
		}
		return string(seq)
	}
	first, second := run(), run()
	if first != second {
		t.Fatalf("same seed, different faults:\n%s\n%s", first, second)
	}
	if !bytes.Contains([]byte(first), []byte("503")) || !bytes.Contains([]byte(first), []byte("429")) {
		t.Fatalf("rates 0.3/0.2 drew no faults in 40 requests: %s", first)
	}
}

func TestLatencyDelaysTheAnswer(t *testing.T) {
	s := start(t, sandbox.Options{Latency: 30 * time.Millisecond})
	began := time.Now()
	post(t, s, validOrder("1"))
	if d := time.Since(began); d < 30*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
}

func TestSetDownAnswers503UntilUp(t *testing.T) {
	s := start(t, sandbox.Options{})
	s.SetDown(true)
	if r := post(t, s, validOrder("1")); r.status != http.StatusServiceUnavailable || !s.Stats().Down {
		t.Fatalf("down: %d %+v", r.status, s.Stats())
	}
	s.SetDown(false)
	if r := post(t, s, validOrder("1")); r.status != http.StatusOK {
		t.Fatalf("up again: %d", r.status)
	}
	if st := s.Stats(); st.DownRefused != 1 || st.Accepted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDownRefuseRefusesConnectionsThenListensAgain(t *testing.T) {
	s := start(t, sandbox.Options{DownRefuse: true})
	addr := s.URL()[len("http://"):]
	post(t, s, validOrder("1")) // leaves an idle keep-alive connection
	s.SetDown(true)
	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial while down: %v", err)
	}
	s.SetDown(false)
	http.DefaultClient.CloseIdleConnections() // the server dropped them when it went down
	if r := post(t, s, validOrder("2")); r.status != http.StatusOK {
		t.Fatalf("up again: %d", r.status)
	}
}

func TestDownWindowFollowsTheClock(t *testing.T) {
	s := start(t, sandbox.Options{DownAfter: time.Millisecond, DownFor: 20 * time.Millisecond})
	eventually(t, "the window opens", func() bool { return s.Stats().Down })
	eventually(t, "the window closes", func() bool { return !s.Stats().Down })
	if r := post(t, s, validOrder("1")); r.status != http.StatusOK {
		t.Fatalf("after the window: %d", r.status)
	}
}

func TestInvalidOptionsAreAllReported(t *testing.T) {
	err := sandbox.Options{Keys: "nodot", FailRate: 0.8, ThrottleRate: 0.5, Latency: -1, DownAfter: time.Second}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Keys: want PUBLIC.SECRET", "FailRate + ThrottleRate: 1.3 is more than 1", "Latency -1ns: negative", "DownAfter 1s: set without DownFor"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	if bytes.Contains([]byte(err.Error()), []byte("nodot")) {
		t.Errorf("error quotes the keys: %v", err)
	}
	if err := sandbox.New(sandbox.Options{FailRate: 2}).Start(); err == nil {
		t.Fatal("Start accepted invalid options")
	}
}

// TestValidateAsNamesOptionsTheCallersWay: a command reports its flags'
// names, not the fields'.
func TestValidateAsNamesOptionsTheCallersWay(t *testing.T) {
	flags := map[string]string{"FailRate": "--fail-rate", "DownAfter": "--down-after", "DownFor": "--down-for", "Keys": "--keys"}
	err := sandbox.Options{Keys: "nodot", FailRate: 2, DownAfter: time.Second}.ValidateAs(func(f string) string { return flags[f] })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--fail-rate 2: not between 0 and 1", "--down-after 1s: set without --down-for", "--keys: want PUBLIC.SECRET"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "FailRate") || strings.Contains(err.Error(), "nodot") || strings.Contains(err.Error(), "more than 1") {
		t.Errorf("a field name, the keys or a second problem for one rate in %v", err)
	}
	err = sandbox.Options{FailRate: 0.7, ResetRate: 0.5}.ValidateAs(func(f string) string { return flags[f] })
	if err == nil || err.Error() != "--fail-rate + ResetRate: 1.2 is more than 1 (at most one fault applies to a request)" {
		t.Errorf("rates over 1 together: %v", err)
	}
}

func ExampleServer() {
	s := sandbox.New(sandbox.Options{Keys: "pub.sec"})
	if err := s.Start(); err != nil {
		panic(err)
	}
	defer s.Close()
	req, _ := http.NewRequest(http.MethodPost, s.Endpoint(), bytes.NewBufferString(
		`{"cart_id":"c1","order_id":"o1","currency_code":"USD","items":[{"sku":"A","price":5.5,"quantity":1}]}`))
	req.Header.Set("Refersion-Public-Key", "pub")
	req.Header.Set("Refersion-Secret-Key", "sec")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, s.Stats().Accepted)
	// Output: 200 1
}
