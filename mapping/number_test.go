package mapping

import "testing"

func TestIsJSONNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "5.50": true, "-1": true, "1e3": true, "1.5E-2": true, "123456789012345678901": true,
		"": false, "05": false, "5.": false, ".5": false, "+1": false, "1e": false, "NaN": false,
		"$5.50": false, "5,50": false, "1 ": false, "0x10": false, "Infinity": false, "-": false,
	} {
		if got := isJSONNumber(s); got != want {
			t.Errorf("isJSONNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDecimalKeepsTheSourceText(t *testing.T) {
	for _, tc := range []struct {
		in         string
		fromString bool
		out        string
		neg, bad   bool
	}{
		{"19.99", false, "19.99", false, false},
		{"5.50", true, "5.50", false, false},
		{" 5.50 ", true, "5.50", false, false},
		{"-0", false, "0", false, false},
		{"-2.25", false, "-2.25", true, false},
		{"1e999", false, "", false, true},
		{"$5.50", true, "", false, true},
	} {
		out, neg, reason := decimal(tc.in, tc.fromString)
		if out != tc.out || neg != tc.neg || (reason != "") != tc.bad {
			t.Errorf("decimal(%q) = %q %v %q", tc.in, out, neg, reason)
		}
	}
}

func TestWholeNumber(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"1", "1"}, {"2.0", "2"}, {"2.000", "2"}, {"0", ""}, {"2.5", ""}, {"1e2", ""}, {"-3", ""}, {"99999999999999999999", ""},
	} {
		if out, _ := wholeNumber(tc.in, false); out != tc.out {
			t.Errorf("wholeNumber(%q) = %q, want %q", tc.in, out, tc.out)
		}
	}
}
