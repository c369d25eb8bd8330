package secrets

import (
	"sync"
	"testing"
)

func TestSetReplacesWhatItWasGivenAndWhatIsAdded(t *testing.T) {
	s := New("****", "public.secret", "abc") // "abc" is too short to replace
	if got := s.Replace("keys public.secret, abc"); got != "keys ****, abc" {
		t.Errorf("Replace = %q", got)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Replace("while a reload adds keys") }()
	s.Add("reloaded-secret")
	wg.Wait()
	if got := s.Replace("a reloaded-secret and public.secret"); got != "a **** and ****" {
		t.Errorf("after Add: %q", got)
	}
	var none *Set
	if got := none.Replace("public.secret"); got != "public.secret" {
		t.Errorf("nil set: %q", got)
	}
}
