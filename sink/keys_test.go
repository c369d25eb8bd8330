package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
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
