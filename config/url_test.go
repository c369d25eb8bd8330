package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestMaskURL covers each kind of URL-valued setting. Every credential in
// the inputs contains 9137; no output may.
func TestMaskURL(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"no credentials", "https://inbound-webhooks.refersion.com/tracker/orders/paid", "https://inbound-webhooks.refersion.com/tracker/orders/paid"},
		{"redis without password", "redis://redis:6379/0", "redis://redis:6379/0"},
		{"http userinfo", "http://relay:pw9137@sandbox:8080/tracker/orders/paid", "http://relay:xxxxx@sandbox:8080/tracker/orders/paid"},
		{"http token as user name", "https://tok9137@hooks.example.com/x", "https://xxxxx@hooks.example.com/x"},
		{"http empty password", "http://relay:@sandbox/x", "http://relay:xxxxx@sandbox/x"},
		{"redis password only", "redis://:pw9137@redis:6379/0", "redis://:xxxxx@redis:6379/0"},
		{"rediss user and password", "rediss://relay:pw9137@redis-0:6380/1", "rediss://relay:xxxxx@redis-0:6380/1"},
		{"escaped password", "redis://relay:p%40w9137@redis:6379", "redis://relay:xxxxx@redis:6379"},
		{"raw @ in password", "redis://relay:p@w9137@redis:6379", "redis://relay:xxxxx@redis:6379"},
		{"scheme-less userinfo", "relay:pw9137@redis:6379", "relay:xxxxx@redis:6379"},
		{"scheme-less password only", ":pw9137@redis:6379", ":xxxxx@redis:6379"},
		{"scheme-less token", "tok9137@redis:6379", "xxxxx@redis:6379"},
		{"scheme-less query password", "redis:6379?password=pw9137", "redis:6379?password=xxxxx"},
		{"scheme-less host", "redis:6379", "redis:6379"},
		{"query password", "redis://redis:6379/0?db=1&password=pw9137&dial_timeout=3s", "redis://redis:6379/0?db=1&password=xxxxx&dial_timeout=3s"},
		{"query password-like names", "https://h/p?API_KEY=k9137;access_token=t9137&sig=s9137&Auth=a9137&user=relay", "https://h/p?API_KEY=xxxxx;access_token=xxxxx&sig=xxxxx&Auth=xxxxx&user=relay"},
		{"query name escaped", "https://h/p?pass%77ord=pw9137", "https://h/p?pass%77ord=xxxxx"},
		{"query name unescapable", "https://h/p?a%zz=pw9137", "https://h/p?a%zz=xxxxx"},
		{"fragment token", "https://h/p#access_token=t9137&state=1", "https://h/p#access_token=xxxxx&state=1"},
		{"userinfo and query", "redis://relay:pw9137@redis:6379/0?password=pw9137", "redis://relay:xxxxx@redis:6379/0?password=xxxxx"},
		{"control character", "redis://r:6379\x7f:pw9137", "****"},
		{"bad port", "http://relay:pw9137/x", "****"},
		{"unescaped ? in password", "redis://:12?pw9137@redis:6379", "****"},
		{"unescaped / in password", "redis://relay:12/pw9137@redis:6379", "****"},
		{"unescaped # in password", "redis://:12#pw9137@redis:6379", "****"},
		{"bad escape", "redis://relay:pw9137%zz@redis:6379", "****"},
		{"space in scheme-less", "pw9137 @redis:6379", "****"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := maskURL(tc.in)
			if got != tc.want {
				t.Errorf("maskURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if strings.Contains(got, "9137") {
				t.Errorf("maskURL(%q) = %q shows a credential", tc.in, got)
			}
			if again := maskURL(got); again != got {
				t.Errorf("masking again changes %q to %q", got, again)
			}
		})
	}
}

// TestURLValuedSettingsAreMasked: every variable named *_URL is shown
// through maskURL, and a mask tag means nothing but that.
func TestURLValuedSettingsAreMasked(t *testing.T) {
	n := 0
	for _, v := range vars() {
		f := reflect.TypeFor[Config]().FieldByIndex(v.index)
		if tag, ok := f.Tag.Lookup("mask"); ok && (tag != "url" || f.Type.Kind() != reflect.String) {
			t.Errorf("%s: mask:%q on a %s; only mask:\"url\" on a string is understood", v.Name, tag, f.Type)
		}
		if strings.HasSuffix(v.Name, "_URL") != v.url {
			t.Errorf("%s: URL-valued is %v; a setting named *_URL (and only one) is a URL or tagged mask:\"url\"", v.Name, v.url)
		}
		if v.url {
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d URL-valued settings, want REFERSION_URL and REDIS_URL at least", n)
	}
}

// TestNoPrintedFormShowsURLCredentials loads URL-valued settings carrying
// credentials (all containing 9137), with other settings wrong so that
// Validate has much to say, and looks for a credential in every printed
// form: Print, Markdown, Validate's and Load's errors, and the URL values
// themselves printed every way.
func TestNoPrintedFormShowsURLCredentials(t *testing.T) {
	for _, env := range []map[string]string{
		{"REFERSION_URL": "http://relay:pw9137@sandbox:8080/tracker", "STATE_BACKEND": "redis", "REDIS_URL": "relay:pw9137@redis:6379"},
		{"REFERSION_URL": "ftp://tok9137@sandbox/x", "STATE_BACKEND": "redis", "REDIS_URL": "redis:6379?password=pw9137"},
		{"REFERSION_URL": "http://relay:pw9137/x", "REDIS_URL": "redis://:pw9137@redis:6379/0?password=pw9137"},
		{"REFERSION_URL": "https://h/x?api_key=k9137", "STATE_BACKEND": "redis", "REDIS_URL": "redis://r:6379\x7f:pw9137"},
		{"REFERSION_URL": "%zz9137", "STATE_BACKEND": "memory", "REDIS_URL": ":pw9137@redis:6379"},
	} {
		env["DEFAULT_CURRENCY"] = "ABC"
		env["LOG_LEVEL"] = "loud"
		c := mustLoad(t, validEnv(env))
		var out strings.Builder
		if err := c.Print(&out); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		if err == nil {
			t.Fatalf("%v: Validate accepted it", env)
		}
		shown := map[string]string{"Print": out.String(), "Markdown": Markdown(), "Validate": err.Error()}
		env["PIPELINE_CONCURRENCY"] = "many9137"
		env["KAFKA_TLS_ENABLED"] = "maybe9137"
		setenv(t, validEnv(env))
		if _, err := Load(); err == nil {
			t.Fatalf("%v: Load accepted it", env)
		} else {
			shown["Load"] = err.Error()
		}
		for form, s := range shown {
			if strings.Contains(s, "9137") {
				t.Errorf("%s shows a credential of %q / %q:\n%s", form, env["REFERSION_URL"], env["REDIS_URL"], s)
			}
		}
		for _, name := range []string{"REFERSION_URL=", "REDIS_URL="} {
			if !strings.Contains(out.String(), "\n"+name) {
				t.Errorf("Print lacks %s", name)
			}
		}
		if l := leaks(c.RedisURL, "9137"); len(l) > 0 {
			t.Errorf("REDIS_URL leaks: %q", l)
		}
	}
}

// TestValidateQuotesValuesMasked: a value Validate quotes goes through the
// same masking as Print, by the variable it belongs to.
func TestValidateQuotesValuesMasked(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"KAFKA_TOPIC", "a topic", `"a topic"`},
		{"REFERSION_URL", "http://relay:pw9137@h/x", `"http://relay:xxxxx@h/x"`},
		{"REDIS_URL", "redis:6379?password=pw9137", `"redis:6379?password=xxxxx"`},
		{"REFERSION_SECRET_KEY", "sec9137", `"****"`},
		{"NO_SUCH_VARIABLE", "pw9137", `"****"`},
	} {
		if got := quote(tc.name, tc.value); got != tc.want {
			t.Errorf("quote(%s, %q) = %s, want %s", tc.name, tc.value, got, tc.want)
		}
	}
}
