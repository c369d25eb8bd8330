package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

const (
	publicKey = "pub_9f8e7d6c5b4a"
	secretKey = "sec_0a1b2c3d4e5f"
)

func TestParseKeysReadsTheOneStringForm(t *testing.T) {
	k, err := sink.ParseKeys(" " + publicKey + "." + secretKey + "\n")
	if err != nil || k != sink.NewKeys(publicKey, secretKey) {
		t.Fatalf("ParseKeys: %v", err)
	}
	for _, bad := range []string{"", "nodot", ".secret", "public.", "."} {
		if _, err := sink.ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		} else if len(bad) > 1 && strings.Contains(err.Error(), bad) {
			t.Errorf("error quotes the input: %v", err)
		}
	}
}

func TestKeysNeverPrint(t *testing.T) {
	k := sink.NewKeys(publicKey, secretKey)
	cfg := sink.Config{Endpoint: "https://example.com/x", Keys: k}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "keys", k, "cfg", cfg)
	js, _ := json.Marshal(cfg)
	text, _ := k.MarshalText()
	printed := []string{
		k.String(), k.GoString(), string(text), string(js), logs.String(),
		fmt.Sprintf("%v %+v %#v %s %q %x %X %d", k, k, k, k, k, k, k, k),
		fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), fmt.Sprint(&cfg),
		fmt.Sprint(cfg.Validate()), fmt.Sprint(sink.Config{Keys: sink.NewKeys(publicKey, "")}.Validate()),
	}
	for _, p := range printed {
		if strings.Contains(p, publicKey) || strings.Contains(p, secretKey) ||
			strings.Contains(p, "9f8e") || strings.Contains(p, "0a1b") {
			t.Errorf("keys leaked: %s", p)
		}
	}
	if !strings.Contains(printed[0], "****") || sink.NewKeys("", "").String() != "" {
		t.Errorf("set keys print %q, unset keys %q", printed[0], sink.NewKeys("", "").String())
	}
}

func TestKeysUnmarshalFromText(t *testing.T) {
	var v struct{ Keys sink.Keys }
	if err := json.Unmarshal([]byte(`{"Keys":"`+publicKey+"."+secretKey+`"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Keys != sink.NewKeys(publicKey, secretKey) {
		t.Fatal("keys not read")
	}
}

func TestErrorsNeverCarryTheKeys(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	cfg := fastConfig(sb.Endpoint())
	cfg.Keys = sink.NewKeys(publicKey, secretKey)
	err := newSink(t, cfg).Send(context.Background(), sinktest.Order("1"))
	if err == nil || strings.Contains(err.Error(), publicKey) || strings.Contains(err.Error(), secretKey) {
		t.Fatalf("unauthorized error: %v", err)
	}
}

// A response body that echoes the keys (an error page quoting the request's
// headers) keeps neither in the error, and so in no dead letter or log.
func TestKeysEchoedInAResponseBodyAreRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprintf(w, `{"error":"bad request with keys %s / %s"}`, r.Header.Get("Refersion-Public-Key"), r.Header.Get("Refersion-Secret-Key"))
	}))
	defer srv.Close()
	keys, _ := sink.ParseKeys("pub-echoed.sec-echoed")
	s, err := sink.New(sink.Config{Endpoint: srv.URL, Keys: keys}, memory.NewSent(memory.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Send(context.Background(), sinktest.Order("o-echo"))
	var perm *failure.Permanent
	if !errors.As(err, &perm) {
		t.Fatalf("error %v, want a rejection", err)
	}
	for _, text := range []string{perm.Body, err.Error()} {
		if strings.Contains(text, "sec-echoed") || strings.Contains(text, "pub-echoed") || !strings.Contains(text, "[redacted]") {
			t.Errorf("a key survived: %s", text)
		}
	}
}
