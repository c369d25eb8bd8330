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
	// RefundEvents and CancelEvents are the track event names that refund
	// part or all of an order, and that cancel it (KindRefund, KindCancel).
	// Empty means none: such events stay dropped tracks. The usual names
	// are DefaultRefundEvents and DefaultCancelEvents.
	RefundEvents []string
	CancelEvents []string
}

// DefaultOrderEvents and DefaultCartIDSources are used when Options leaves them empty.
var (
	DefaultOrderEvents   = []string{"Order Completed", "Completed Order"}
	DefaultCartIDSources = []string{"cart_id", "checkout_id"}
	DefaultRefundEvents  = []string{"Order Refunded"}
	DefaultCancelEvents  = []string{"Order Cancelled"}
)

// withDefaults returns o with every empty field that has a default set to it.
func (o Options) withDefaults() Options {
	if len(o.OrderEvents) == 0 {
		o.OrderEvents = DefaultOrderEvents
	}
	if len(o.CartIDSources) == 0 {
		o.CartIDSources = DefaultCartIDSources
	}
	return o
}

// OptionError is one invalid option found by Options.Validate. Option is the
// name of the Options field, so that a caller filling Options from its own
// settings (environment variables, flags) can name the setting instead.
type OptionError struct {
	Option string // "OrderEvents", "CartIDSources" or "DefaultCurrency"
	Value  string // the invalid value, or the invalid element of a list
	Reason string // what is wrong with Value, e.g. "is not an ISO 4217 currency code"
	Fix    string // how to correct it
}

// optionLabels are the options' names in Error's messages.
var optionLabels = map[string]string{
	"OrderEvents":     "order event",
	"CartIDSources":   "cart_id source",
	"DefaultCurrency": "default currency",
	"RefundEvents":    "refund event",
	"CancelEvents":    "cancellation event",
}

// Error reads like `default currency "ABC" is not an ISO 4217 currency code: use a code such as USD`.
func (e *OptionError) Error() string {
	label := optionLabels[e.Option]
	if label == "" {
		label = e.Option
	}
	return fmt.Sprintf("%s %q %s: %s", label, e.Value, e.Reason, e.Fix)
}

// Validate reports every invalid option at once, each an *OptionError,
// joined with errors.Join, or nil. New accepts exactly the Options that
// Validate accepts.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	for _, e := range o.OrderEvents {
		if e == "" {
			errs = append(errs, &OptionError{Option: "OrderEvents", Value: e, Reason: "is an empty event name, which never matches", Fix: "remove it"})
		}
	}
	seen := map[string]string{}
	for _, l := range []struct {
		option string
		names  []string
	}{{"OrderEvents", o.OrderEvents}, {"RefundEvents", o.RefundEvents}, {"CancelEvents", o.CancelEvents}} {
		for _, e := range l.names {
			if e == "" && l.option != "OrderEvents" {
				errs = append(errs, &OptionError{Option: l.option, Value: e, Reason: "is an empty event name, which never matches", Fix: "remove it"})
			}
			if other, dup := seen[e]; dup && other != l.option && e != "" {
				errs = append(errs, &OptionError{Option: l.option, Value: e, Reason: "is also one of the " + optionLabels[other] + "s", Fix: "give each event name one meaning"})
			}
			seen[e] = l.option
		}
	}
	for _, s := range o.CartIDSources {
		if s == "" || strings.ContainsAny(s, ". ") {
			errs = append(errs, &OptionError{Option: "CartIDSources", Value: s, Reason: "is not a property name", Fix: "use top-level property names such as cart_id"})
		}
	}
	if o.DefaultCurrency != "" {
		if _, ok := normalizeCurrency(o.DefaultCurrency); !ok {
			errs = append(errs, &OptionError{Option: "DefaultCurrency", Value: o.DefaultCurrency, Reason: "is not an ISO 4217 currency code", Fix: "use a code such as USD or EUR, or leave it empty"})
		}
	}
	return errors.Join(errs...)
}

// Mapper classifies events and maps orders. It is immutable and safe for
// concurrent use.
type Mapper struct {
	orderEvents     [][]byte
	refundEvents    [][]byte
	cancelEvents    [][]byte
	cartIDSources   []string
	defaultCurrency string
}

// New returns a Mapper for o, or Validate's error naming every bad option.
func New(o Options) (*Mapper, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	m := &Mapper{cartIDSources: o.CartIDSources}
	for _, e := range o.OrderEvents {
		m.orderEvents = append(m.orderEvents, []byte(e))
	}
	for _, e := range o.RefundEvents {
		m.refundEvents = append(m.refundEvents, []byte(e))
	}
	for _, e := range o.CancelEvents {
		m.cancelEvents = append(m.cancelEvents, []byte(e))
	}
	if o.DefaultCurrency != "" {
		m.defaultCurrency, _ = normalizeCurrency(o.DefaultCurrency)
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
