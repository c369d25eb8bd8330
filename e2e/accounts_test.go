package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/storefront"
)

// Three accounts routed by context.groupId, from a generated stream of three
// stores, one account with a wrong secret key: its orders are held (/readyz
// names it), the other two deliver everything; an order of a store no
// account selects is dead-lettered. With the key fixed and the relay
// restarted, the held orders are delivered exactly once, each under its own
// account's key, shared order_ids included.
func TestSeveralAccountsOneWithWrongKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	w, err := harness.NewWorld(sandbox.Options{KeyPairs: []string{"a-pub.a-sec", "b-pub.b-sec", "c-pub.c-sec"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	o := storefront.DefaultOptions()
	o.N, o.Seed, o.Batch, o.Stores, o.Shared = 6000, 5, 0, 3, 0.05
	if _, err := w.ProduceWith(o); err != nil {
		t.Fatal(err)
	}
	want := validByStore(t, o) // store → order_ids
	if err := w.ProduceBad([]byte(`{"type":"track","event":"Order Completed","context":{"groupId":"store-9"},"properties":{"order_id":"lost-1","cart_id":"c","currency":"USD","products":[{"sku":"A","price":1}]}}`)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(file, []byte(`route: context.groupId
accounts:
  - name: brand-a
    select: [store-1]
    public_key_env: A_PUB
    secret_key_env: A_SEC
  - name: brand-b
    select: [store-2]
    public_key_env: B_PUB
    secret_key_env: B_SEC
  - name: brand-c
    select: [store-3]
    public_key_env: C_PUB
    secret_key_env: C_SEC
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"ACCOUNTS_FILE=" + file, "A_PUB=a-pub", "A_SEC=a-sec", "B_PUB=b-pub", "C_PUB=c-pub", "C_SEC=c-sec",
		"STATE_BACKEND=disk", "STATE_DIR=" + t.TempDir(), "LOG_LEVEL=info"}

	r := start(t, w, append(env, "B_SEC=wrong-secret")...)
	admin := adminAddr(t, r)
	waitFor(t, 90*time.Second, "brand-a and brand-c delivered, brand-b held", func() bool {
		return len(byKey(t, w, "a-pub")) == len(want["store-1"]) && len(byKey(t, w, "c-pub")) == len(want["store-3"]) &&
			strings.Contains(readyz(admin), "brand-b")
	}, r)
	ready := readyz(admin)
	if !strings.Contains(ready, "account brand-b") || !strings.Contains(ready, "refused the account's keys") || strings.Contains(ready, "brand-a") {
		t.Errorf("/readyz = %q; want not ready naming brand-b's keys only", ready)
	}
	if n := len(byKey(t, w, "b-pub")); n != 0 {
		t.Errorf("brand-b had %d orders accepted with a wrong key", n)
	}
	if strings.Contains(r.Stderr(), "wrong-secret") || strings.Contains(r.Stderr(), "a-sec") {
		t.Error("a secret key appears in the log")
	}
	if err := r.Stop(30 * time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}

	r = start(t, w, append(env, "B_SEC=b-sec")...)
	waitFor(t, 90*time.Second, "brand-b's held orders, then the whole stream committed", func() bool {
		return len(byKey(t, w, "b-pub")) == len(want["store-2"]) && w.Lag() == 0
	}, r)
	for key, st := range map[string]string{"a-pub": "store-1", "b-pub": "store-2", "c-pub": "store-3"} {
		got := byKey(t, w, key)
		for id, n := range got {
			if n != 1 {
				t.Errorf("%s: order %s accepted %d times", key, id, n)
			}
			if !want[st][id] {
				t.Errorf("%s: order %s is not one of %s's", key, id, st)
			}
		}
	}
	dls, err := w.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	noAccount := 0
	for _, d := range dls {
		if d.Reason == deadletter.ReasonNoAccount {
			noAccount++
		}
	}
	// Once, or twice: it sits behind brand-b's held orders in its
	// partition, so its offset stayed uncommitted and the restart read it
	// again (dead letters are written at least once).
	if noAccount < 1 || noAccount > 2 {
		t.Errorf("%d records dead-lettered as no_account, want the one order of store-9", noAccount)
	}
}

// validByStore regenerates o's stream and returns each store's valid
// order_ids; with a share of shared ids asked for, some must be shared.
func validByStore(t *testing.T, o storefront.Options) map[string]map[string]bool {
	t.Helper()
	out, err := harness.ValidByStore(o)
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	for id := range out["store-1"] {
		if out["store-2"][id] || out["store-3"][id] {
			shared++
		}
	}
	if shared == 0 && o.Shared > 0.01 {
		t.Fatal("the stream has no order_id shared between stores; the test needs some")
	}
	return out
}

// byKey counts the orders the sandbox accepted under one public key, by order_id.
func byKey(t *testing.T, w *harness.World, publicKey string) map[string]int {
	t.Helper()
	out, err := w.AcceptedBy(publicKey)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
