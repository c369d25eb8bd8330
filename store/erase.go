package store

import "context"

// Erased is what erasing a person removed from an identity store.
type Erased struct {
	IDs    int // ids about which something was stored (traits or links), now erased
	Traits int // trait records erased
	Links  int // alias links erased
}

// Eraser is an identity store that says what Forget erased. Every
// backend's store.Identities implements it.
type Eraser interface {
	// Erase is Forget, returning what it erased.
	Erase(ctx context.Context, id string) (Erased, error)
}
