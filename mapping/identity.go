package mapping

import (
	"context"
	"errors"
	"time"

	"github.com/buger/jsonparser"
)

// Identities looks up what earlier identify calls said about a person. id is a
// userId or an anonymousId (one namespace, as Segment's alias treats them).
// Lookup follows alias links. found is false when nothing is stored; err is
// for a store that cannot answer (the caller retries; it never drops the order).
//
// Identities and IdentityWriter are what Enrich and Apply need of an identity
// store; the full contract, which every state backend implements, is
// store.Identities (package store imports this one, never the reverse).
type Identities interface {
	Lookup(ctx context.Context, id string) (t Traits, found bool, err error)
}

// IdentityWriter is the write side of an identity store.
type IdentityWriter interface {
	// Merge stores t under id: non-empty fields of t replace stored ones,
	// empty fields erase nothing.
	Merge(ctx context.Context, id string, t Traits) error
	// Link records that from (an anonymousId or earlier userId) is the person
	// to: lookups of from fall back to to's traits, and from's stored traits
	// fill gaps in to's.
	Link(ctx context.Context, from, to string) error
	// Forget erases everything stored about id: its traits, every link from
	// or to it, and the traits of ids linked to it (the same person).
	Forget(ctx context.Context, id string) error
}

// Enrich fills the order's customer from the identity store: first what is
// stored for the event's userId, then for its anonymousId. Event data beats
// stored data; the IP address comes only from the event.
func Enrich(ctx context.Context, o *Order, ids Identities) error {
	_, err := enrich(ctx, o, ids, false)
	return err
}

// EnrichClick is Enrich that also credits the person's last affiliate click
// (click capture): see CreditFromClick.
func EnrichClick(ctx context.Context, o *Order, ids Identities, window time.Duration) (Credit, error) {
	click, err := enrich(ctx, o, ids, len(o.AutoCreditAffiliateID) == 0)
	if err != nil {
		return NotCredited, err
	}
	return CreditFromClick(o, click, window), nil
}

// enrich fills o's customer and returns the person's last click, looked up
// too when wantClick.
func enrich(ctx context.Context, o *Order, ids Identities, wantClick bool) (Click, error) {
	var t Traits
	if o.Customer != nil {
		t = Traits{Email: o.Customer.Email, FirstName: o.Customer.FirstName, LastName: o.Customer.LastName}
	}
	for _, id := range [...]string{o.Source.UserID, o.Source.AnonymousID} {
		if id == "" || (!wantClick && t.Email != "" && t.FirstName != "" && t.LastName != "") {
			continue
		}
		stored, found, err := ids.Lookup(ctx, id)
		if err != nil {
			return Click{}, err
		}
		if found {
			t = t.Fill(stored)
		}
	}
	click := t.Click
	t.Click = Click{}
	if t.IsZero() {
		return click, nil
	}
	if o.Customer == nil {
		o.Customer = &Customer{}
	}
	o.Customer.Email, o.Customer.FirstName, o.Customer.LastName = t.Email, t.FirstName, t.LastName
	return click, nil
}

// IdentityUpdate is what an identify, alias or delete event asks of the store.
type IdentityUpdate struct {
	Kind        Kind   // KindIdentify, KindAlias or KindDelete
	UserID      string // identify, delete; alias: the new id
	AnonymousID string // identify, delete
	PreviousID  string // alias
	Traits      Traits // identify
}

// ErrNoIdentity means an identify, alias or delete event names nobody.
var ErrNoIdentity = errors.New("the event has neither userId nor anonymousId")

// ParseIdentity reads an identify, alias or delete event (as classified by k).
// It returns ErrNoIdentity (wrapped in an *InvalidError) when the event names nobody.
func ParseIdentity(ev []byte, k Kind) (IdentityUpdate, error) {
	u := IdentityUpdate{Kind: k}
	var msgID string
	it := newMembers(ev)
	for it.next() {
		switch string(it.key) {
		case "userId":
			u.UserID, _ = idText(raw{it.val, it.vt})
		case "anonymousId":
			u.AnonymousID, _ = idText(raw{it.val, it.vt})
		case "previousId":
			u.PreviousID, _ = idText(raw{it.val, it.vt})
		case "traits":
			if it.vt == jsonparser.Object {
				u.Traits = traitsFrom(it.val)
			}
		case "messageId":
			msgID, _ = idText(raw{it.val, it.vt})
		}
	}
	switch {
	case k == KindAlias && (u.PreviousID == "" || u.UserID == ""):
		return u, &InvalidError{MessageID: msgID, Problems: []Problem{{Field: "previousId", Reason: "an alias needs both previousId and userId"}}}
	case k != KindAlias && u.UserID == "" && u.AnonymousID == "":
		return u, &InvalidError{MessageID: msgID, Problems: []Problem{{Field: "userId", Reason: ErrNoIdentity.Error()}}}
	}
	return u, nil
}

// Apply carries out u on the store. An identify with both ids stores the
// traits under userId and links anonymousId to it.
func Apply(ctx context.Context, w IdentityWriter, u IdentityUpdate) error {
	switch u.Kind {
	case KindIdentify:
		id := u.UserID
		if id == "" {
			id = u.AnonymousID
		}
		if !u.Traits.IsZero() {
			if err := w.Merge(ctx, id, u.Traits); err != nil {
				return err
			}
		}
		if u.UserID != "" && u.AnonymousID != "" && u.AnonymousID != u.UserID {
			return w.Link(ctx, u.AnonymousID, u.UserID)
		}
	case KindAlias:
		if u.PreviousID != u.UserID {
			return w.Link(ctx, u.PreviousID, u.UserID)
		}
	case KindDelete:
		for _, id := range [...]string{u.UserID, u.AnonymousID} {
			if id == "" {
				continue
			}
			if err := w.Forget(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}
