package state

import (
	"context"
	"fmt"

	"github.com/refersion-relay/refersion-relay/store"
)

// Forget erases everything the identity store holds about the person of
// each id, and every id linked to it (store.Identities.Forget), and returns
// what it erased, summed over ids. The disk backend scrubs the file at
// Close: nothing of the person stays in it. The sent-order store holds only
// order_ids and is not touched.
func (s *Stores) Forget(ctx context.Context, ids ...string) (store.Erased, error) {
	e, ok := s.Identities.(store.Eraser)
	if !ok {
		return store.Erased{}, fmt.Errorf("the %s identity store cannot say what it erased", s.Backend)
	}
	var total store.Erased
	for _, id := range ids {
		if id == "" {
			continue
		}
		n, err := e.Erase(ctx, id)
		if err != nil {
			return total, err
		}
		total.IDs += n.IDs
		total.Traits += n.Traits
		total.Links += n.Links
	}
	return total, nil
}
