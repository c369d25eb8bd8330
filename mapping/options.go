package mapping

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/currency"
)

// Options configures a Mapper. The zero value means the defaults.
type Options struct {
	// OrderEvents are the track event names that are orders.
	// Default: "Order Completed" (spec v2) and "Completed Order" (v1).
	OrderEvents []string
	// CartIDSources are the properties read for cart_id, first present wins.
	// Default: cart_id, checkout_id.
	CartIDSources []string
	// DefaultCurrency applies only when properties.currency is absent.
	// Empty means an order without a currency is invalid.
	DefaultCurrency string
}

// DefaultOrderEvents and DefaultCartIDSources are used when Options leaves them empty.
var (
	DefaultOrderEvents   = []string{"Order Completed", "Completed Order"}
	DefaultCartIDSources = []string{"cart_id", "checkout_id"}
)

// Mapper classifies events and maps orders. It is immutable and safe for
// concurrent use.
type Mapper struct {
	orderEvents     [][]byte
	cartIDSources   []string
	defaultCurrency string
}

// New returns a Mapper for o, or an error naming every bad option.
func New(o Options) (*Mapper, error) {
	m := &Mapper{}
	var errs []error
	events := o.OrderEvents
	if len(events) == 0 {
		events = DefaultOrderEvents
	}
	for _, e := range events {
		if e == "" {
			errs = append(errs, errors.New("order events: an empty event name never matches; remove it"))
			continue
		}
		m.orderEvents = append(m.orderEvents, []byte(e))
	}
	m.cartIDSources = o.CartIDSources
	if len(m.cartIDSources) == 0 {
		m.cartIDSources = DefaultCartIDSources
	}
	for _, s := range m.cartIDSources {
		if s == "" || strings.ContainsAny(s, ". ") {
			errs = append(errs, fmt.Errorf("cart_id sources: %q is not a property name (use names like cart_id)", s))
		}
	}
	if o.DefaultCurrency != "" {
		c, ok := normalizeCurrency(o.DefaultCurrency)
		if !ok {
			errs = append(errs, fmt.Errorf("default currency: %q is not an ISO 4217 code (e.g. USD)", o.DefaultCurrency))
		}
		m.defaultCurrency = c
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// MustNew is New for options known to be valid (tests, defaults); it panics otherwise.
func MustNew(o Options) *Mapper {
	m, err := New(o)
	if err != nil {
		panic(err)
	}
	return m
}

// normalizeCurrency trims and upper-cases s and reports whether the result is
// an ISO 4217 code.
func normalizeCurrency(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != 3 {
		return s, false
	}
	if _, err := currency.ParseISO(s); err != nil {
		return s, false
	}
	return s, true
}
