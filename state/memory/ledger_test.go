package memory_test

import (
	"testing"

	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/store/storetest"
)

func TestLedgerConformance(t *testing.T) {
	storetest.TestLedger(t, func(*testing.T) store.Ledger { return memory.NewLedger(memory.Options{}) })
}
