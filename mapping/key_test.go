package mapping

import (
	"strings"
	"testing"

	"github.com/buger/jsonparser"
)

func TestKeyTextWritesNumbersInOneExactForm(t *testing.T) {
	for in, want := range map[string]string{
		"1500": "1500", "1.5e3": "1500", "1500.0": "1500", "15E+2": "1500", "1500.000e0": "1500",
		"-0": "0", "0.0": "0", "12.50": "12.5", "1e-2": "0.01",
		"123456789012345678901": "123456789012345678901", "1.23456789012345678901e20": "123456789012345678901",
	} {
		got, reason := keyText(raw{[]byte(in), jsonparser.Number})
		if reason != "" || got != want {
			t.Errorf("keyText(%s) = %q, %q; want %q", in, got, reason, want)
		}
	}
	for _, in := range []string{"1e400", "1e-99999999999"} {
		if _, reason := keyText(raw{[]byte(in), jsonparser.Number}); !strings.Contains(reason, "out of range") {
			t.Errorf("keyText(%s): %q, want out of range", in, reason)
		}
	}
}

func TestKeyTextRefusesControlCharacters(t *testing.T) {
	for _, in := range []string{`o-1\n`, `o\u00001`, `\u007f`, "a\tb"} {
		if _, reason := keyText(raw{[]byte(in), jsonparser.String}); !strings.Contains(reason, "control character") {
			t.Errorf("keyText(%q): %q, want a control-character problem", in, reason)
		}
	}
	if s, reason := keyText(raw{[]byte(`caf\u00e9-1`), jsonparser.String}); reason != "" || s != "café-1" {
		t.Errorf("a printable id: %q, %q", s, reason)
	}
}

func TestOrderIDsOverTheLimitAreInvalid(t *testing.T) {
	m := MustNew(Options{})
	_, err := m.Map([]byte(`{"type":"track","event":"Order Completed","properties":{"cart_id":"c","order_id":"` + strings.Repeat("x", 256) + `","currency":"USD","products":[{"sku":"A","price":1}]}}`))
	if err == nil || !strings.Contains(err.Error(), "256 characters") {
		t.Errorf("a 256-character order_id: %v", err)
	}
}
