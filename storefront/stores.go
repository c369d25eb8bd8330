package storefront

import (
	"maps"
	"slices"
	"strconv"
)

// DefaultShared is DefaultOptions' Shared: 1 valid order in 200 reuses an
// order_id of another store when there are several.
const DefaultShared = 0.005

// StoreCounts summarise one store's part of a stream with several stores.
type StoreCounts struct {
	Events       int `json:"events"`
	OrderValid   int `json:"order_valid"`
	OrderInvalid int `json:"order_invalid"`
	// SharedOrderIDs are the valid orders of this store whose order_id an
	// earlier order of another store carries too.
	SharedOrderIDs int `json:"shared_order_ids"`
	Cancellations  int `json:"cancellations,omitempty"`
	ProductRefunds int `json:"product_refunds,omitempty"`
	AmountRefunds  int `json:"amount_refunds,omitempty"`
}

// orderRef is an order's id, as the relay reads it and as it was written.
type orderRef struct{ key, json string }

// StoreName is the name of store i (0-based) in the stream's store fields:
// "store-1" for 0.
func StoreName(i int) string { return "store-" + strconv.Itoa(i+1) }

// multiStore tells whether events carry their store (Options.Stores ≥ 2).
func (g *Generator) multiStore() bool { return g.o.Stores >= 2 }

// storeName is the name of the current event's store; "" with one store.
func (g *Generator) storeName() string {
	if !g.multiStore() {
		return ""
	}
	return StoreName(g.curStore)
}

// pickStore draws the store of the next event. Stores are drawn from their
// own generator, so that the rest of the stream is the same whatever
// Options.Stores is (but for shared order ids).
func (g *Generator) pickStore() {
	if g.multiStore() {
		g.curStore = g.sr.intn(g.o.Stores)
	}
}

// storeProp writes properties.store for a track event when there are
// several stores.
func (g *Generator) storeProp() {
	if g.multiStore() {
		g.w.kstr("store", g.storeName())
	}
}

// sharedID decides whether the current valid order reuses the order_id of
// another store's last valid order, and returns it. An order_id is never
// used twice by one store.
func (g *Generator) sharedID() (orderRef, bool) {
	if !g.multiStore() || !g.sr.chance(g.o.Shared) {
		return orderRef{}, false
	}
	var from []int // stores whose last order this store may share
	for s, ref := range g.lastOrders {
		if s != g.curStore && ref.key != "" && !slices.Contains(g.owners[ref.key], g.curStore) {
			from = append(from, s)
		}
	}
	if len(from) == 0 {
		return orderRef{}, false
	}
	s := from[g.sr.intn(len(from))]
	ref := g.lastOrders[s]
	if g.owners == nil {
		g.owners = map[string][]int{}
	}
	owners, ok := g.owners[ref.key]
	if !ok {
		owners = []int{s}
	}
	g.owners[ref.key] = append(owners, g.curStore)
	g.counts.SharedOrderIDs++
	g.stores[g.curStore].SharedOrderIDs++
	return ref, true
}

// countStore adds event e to its store's counts.
func (g *Generator) countStore(e Event) {
	if !g.multiStore() {
		return
	}
	sc := &g.stores[g.curStore]
	sc.Events++
	switch e.Kind {
	case OrderValid:
		sc.OrderValid++
	case OrderInvalid:
		sc.OrderInvalid++
	}
}

// storeRefund adds a refund of kind (as refund.kind) to the current
// store's counts.
func (g *Generator) storeRefund(kind int) {
	if !g.multiStore() {
		return
	}
	sc := &g.stores[g.curStore]
	switch kind {
	case 0:
		sc.Cancellations++
	case 1:
		sc.ProductRefunds++
	case 2:
		sc.AmountRefunds++
	}
}

// StoreCounts returns each store's counts so far, by store name; nil with
// one store.
func (g *Generator) StoreCounts() map[string]StoreCounts {
	if !g.multiStore() {
		return nil
	}
	out := make(map[string]StoreCounts, len(g.stores))
	for i, sc := range g.stores {
		out[StoreName(i)] = sc
	}
	return out
}

// SurvivorsByStore is Survivors per store: store name → order_id → sku →
// units. With one store, the one store's name is "". Set only with
// Options.Refunds.
func (g *Generator) SurvivorsByStore() map[string]map[string]map[string]int { return g.net }

// Survivors returns, for every valid order generated so far, the units per
// sku (as the relay reads it) that no refund or cancellation took back. It is
// set only with Options.Refunds. With several stores an order_id shared by
// two stores counts the units of both (SurvivorsByStore tells them apart),
// and the map is a new one on every call.
func (g *Generator) Survivors() map[string]map[string]int {
	if g.net == nil {
		return nil
	}
	if !g.multiStore() {
		return g.net[""]
	}
	out := map[string]map[string]int{}
	for _, orders := range g.net {
		for id, lines := range orders {
			if out[id] == nil {
				out[id] = maps.Clone(lines)
				continue
			}
			for sku, n := range lines {
				out[id][sku] += n
			}
		}
	}
	return out
}
