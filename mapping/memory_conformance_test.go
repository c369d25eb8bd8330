package mapping_test

import (
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/statetest"
)

// The map command's store keeps the contract of every identity backend.
func TestMemoryIdentitiesConformance(t *testing.T) {
	statetest.TestIdentities(t, func(*testing.T) mapping.IdentityStore { return mapping.NewMemoryIdentities() })
}
