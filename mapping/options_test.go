package mapping

import (
	"errors"
	"strings"
	"testing"
)

func TestOptionsValidateAcceptsDefaultsAndNormalizableValues(t *testing.T) {
	for _, o := range []Options{
		{},
		{OrderEvents: []string{"Purchase"}, CartIDSources: []string{"basket"}, DefaultCurrency: " eur "},
		{DefaultCurrency: "JPY"},
	} {
		if err := o.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", o, err)
		}
	}
}

// TestOptionsValidateReportsEveryProblem gives one bad value per option and
// expects one *OptionError per bad value, naming its option.
func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	o := Options{
		OrderEvents:     []string{"Order Completed", ""},
		CartIDSources:   []string{"cart.id", "cart id", "cart_id"},
		DefaultCurrency: "ABC",
	}
	err := o.Validate()
	if err == nil {
		t.Fatal("Validate accepted it")
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var oe *OptionError
		if !errors.As(e, &oe) {
			t.Fatalf("%v is a %T, not an *OptionError", e, e)
		}
		if oe.Reason == "" || oe.Fix == "" {
			t.Errorf("%+v lacks a reason or a fix", oe)
		}
		got = append(got, oe.Option+"="+oe.Value)
	}
	want := "OrderEvents= CartIDSources=cart.id CartIDSources=cart id DefaultCurrency=ABC"
	if strings.Join(got, " ") != want {
		t.Errorf("problems %q, want %q", strings.Join(got, " "), want)
	}
	if msg := err.Error(); !strings.Contains(msg, `default currency "ABC" is not an ISO 4217 currency code: `) {
		t.Errorf("message %q does not read as expected", msg)
	}
}

// TestNewAcceptsWhatValidateAccepts: New and Validate share one set of rules.
func TestNewAcceptsWhatValidateAccepts(t *testing.T) {
	for _, o := range []Options{
		{},
		{OrderEvents: []string{""}},
		{CartIDSources: []string{"properties.cart"}},
		{CartIDSources: []string{""}},
		{DefaultCurrency: "dollars"},
		{DefaultCurrency: "ABC"},
		{DefaultCurrency: "usd"},
	} {
		verr := o.Validate()
		_, nerr := New(o)
		if (verr == nil) != (nerr == nil) {
			t.Errorf("%+v: Validate = %v but New = %v", o, verr, nerr)
		}
	}
}
