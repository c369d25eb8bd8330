package mapping

import (
	"encoding/json"
	"testing"

	"github.com/buger/jsonparser"
)

func TestMembersWalksTopLevelOnly(t *testing.T) {
	in := `{"context":{"type":"nested","s":"a\"}{[","arr":[1,{"type":"x"}]},"type":"track","n":-1.5e3,"b":true,"z":null,"e":"say \"hi\"\\"}`
	want := map[string]jsonparser.ValueType{
		"context": jsonparser.Object, "type": jsonparser.String, "n": jsonparser.Number,
		"b": jsonparser.Boolean, "z": jsonparser.Null, "e": jsonparser.String,
	}
	it := newMembers([]byte(in))
	got := map[string]jsonparser.ValueType{}
	for it.next() {
		got[string(it.key)] = it.vt
		if string(it.key) == "type" && string(it.val) != "track" {
			t.Errorf("type = %q, want track", it.val)
		}
		if string(it.key) == "e" && string(it.val) != `say \"hi\"\\` {
			t.Errorf("e = %q", it.val)
		}
	}
	if it.err {
		t.Fatalf("unexpected error")
	}
	if len(got) != len(want) {
		t.Fatalf("members = %v, want %v", got, want)
	}
	for k, vt := range want {
		if got[k] != vt {
			t.Errorf("%s: type %v, want %v", k, got[k], vt)
		}
	}
}

func TestMembersRejectsBrokenObjects(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1`, `{"a":"unterminated}`,
		`{"a":{"b":1}`, `{"a":1,}`, `{"a":1}x`, `{"a":nul}`, `{"a":1 "b":2}`, `{a:1}`,
	} {
		it := newMembers([]byte(in))
		for it.next() {
		}
		if !it.err {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestElementsWalksArrays(t *testing.T) {
	it := newElements([]byte(` [ {"a":[1,2]} , "s" ,3, [] ] `))
	var types []jsonparser.ValueType
	for it.next() {
		types = append(types, it.vt)
	}
	want := []jsonparser.ValueType{jsonparser.Object, jsonparser.String, jsonparser.Number, jsonparser.Array}
	if it.err || len(types) != len(want) {
		t.Fatalf("types %v err %v, want %v", types, it.err, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Errorf("element %d: %v, want %v", i, types[i], want[i])
		}
	}
	for _, in := range []string{`[1,`, `[1 2]`, `{}`, `[`, `[1,]`} {
		it := newElements([]byte(in))
		for it.next() {
		}
		if !it.err {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestStringEndFindsTheClosingQuote(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`abc"`, 3}, {`a\"b"`, 4}, {`a\\"`, 3}, {`0123456789abcdef\"0123"`, 22}, {`no end`, -1}, {`end\"`, -1},
		{`0123456789abcde\\"`, 17},
	} {
		if got := stringEnd([]byte(tc.in), 0); got != tc.want {
			t.Errorf("stringEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// FuzzScan checks the scanner against encoding/json: on every valid JSON
// object it must walk the same top-level keys without error.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`{"type":"track","event":"Order Completed"}`, `{"a":{"b":[1,"]"]},"c":"\\\""}`, `{}`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		it := newMembers(data)
		n := 0
		for it.next() {
			n++
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil || !json.Valid(data) {
			return
		}
		if it.err {
			t.Fatalf("scanner rejected a valid object: %q", data)
		}
		if n < len(obj) {
			t.Fatalf("scanner saw %d members, encoding/json %d: %q", n, len(obj), data)
		}
	})
}
