package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Fixture keys of the accounts; tests assert the secret ones never appear
// in an error or a printed form.
const (
	aPublic = "pubACCOUNTA41d"
	aSecret = "secACCOUNTA77e"
	bPublic = "pubACCOUNTB52c"
	bSecret = "secACCOUNTB88f"
)

// envOf is a getenv backed by m.
func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantAccounts is what validYAML and validJSON load to; keyFile holds
// brand-b's secret key.
func wantAccounts() *Accounts {
	return &Accounts{Route: "context.groupId", Accounts: []Account{
		{Name: "brand-a", Select: []string{"store-1", "store-1-eu", "1001"}, PublicKey: NewSecret(aPublic), SecretKey: NewSecret(aSecret),
			OrderPrefix: "A-", RateLimit: 10, Concurrency: 32},
		{Name: "brand_b", Default: true, PublicKey: NewSecret(bPublic), SecretKey: NewSecret(bSecret)},
	}}
}

const validYAML = `# two brands
route: context.groupId
accounts:
  - name: brand-a
    select: [store-1, store-1-eu, 1001]
    public_key_env: BRAND_A_PUBLIC_KEY
    secret_key_env: BRAND_A_SECRET_KEY
    order_prefix: "A-"
    rate_limit: 10
    concurrency: 32
  - name: brand_b
    default: true
    public_key_env: BRAND_B_PUBLIC_KEY
    secret_key_file: KEYFILE
`

var validEnvAccounts = map[string]string{
	"BRAND_A_PUBLIC_KEY": " " + aPublic + "\n",
	"BRAND_A_SECRET_KEY": aSecret,
	"BRAND_B_PUBLIC_KEY": bPublic,
}

func checkAccounts(t *testing.T, got *Accounts) {
	t.Helper()
	if !reflect.DeepEqual(got, wantAccounts()) {
		t.Fatalf("LoadAccounts =\n%#v\nwant\n%#v", got, wantAccounts())
	}
	if got.Accounts[1].SecretKey.Reveal() != bSecret || got.Accounts[0].PublicKey.Reveal() != aPublic {
		t.Error("keys are not resolved and trimmed")
	}
	sel := map[string]string{"store-1": "brand-a", "store-1-eu": "brand-a", "1001": "brand-a"}
	if s := got.Selectors(); !reflect.DeepEqual(s, sel) {
		t.Errorf("Selectors = %v, want %v", s, sel)
	}
	if d := got.DefaultAccount(); d != "brand_b" {
		t.Errorf("DefaultAccount = %q, want brand_b", d)
	}
}

func TestLoadAccountsYAML(t *testing.T) {
	dir := t.TempDir()
	keyFile := writeFile(t, dir, "b-secret", bSecret+"\n")
	p := writeFile(t, dir, "accounts.yaml", strings.Replace(validYAML, "KEYFILE", keyFile, 1))
	got, err := LoadAccounts(p, envOf(validEnvAccounts))
	if err != nil {
		t.Fatal(err)
	}
	checkAccounts(t, got)
}

// TestLoadAccountsJSON: the same accounts as JSON, indented with tabs, the
// number select value compared by its text.
func TestLoadAccountsJSON(t *testing.T) {
	dir := t.TempDir()
	keyFile := writeFile(t, dir, "b-secret", bSecret)
	doc := map[string]any{
		"route": "context.groupId",
		"accounts": []map[string]any{
			{"name": "brand-a", "select": []any{"store-1", "store-1-eu", 1001}, "public_key_env": "BRAND_A_PUBLIC_KEY",
				"secret_key_env": "BRAND_A_SECRET_KEY", "order_prefix": "A-", "rate_limit": 10, "concurrency": 32},
			{"name": "brand_b", "default": true, "public_key_env": "BRAND_B_PUBLIC_KEY", "secret_key_file": keyFile},
		},
	}
	b, err := json.MarshalIndent(doc, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, dir, "accounts.json", string(b))
	got, err := LoadAccounts(p, envOf(validEnvAccounts))
	if err != nil {
		t.Fatal(err)
	}
	checkAccounts(t, got)
}

// TestExampleAccountsFileLoads keeps deploy/accounts.example.yaml valid.
func TestExampleAccountsFileLoads(t *testing.T) {
	env := map[string]string{"BRAND_A_PUBLIC_KEY": aPublic, "BRAND_A_SECRET_KEY": aSecret, "BRAND_B_PUBLIC_KEY": bPublic, "BRAND_B_SECRET_KEY": bSecret}
	a, err := LoadAccounts("../deploy/accounts.example.yaml", envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if a.Route != "context.groupId" || len(a.Accounts) != 2 || a.DefaultAccount() != "brand-b" || a.Selectors()["store-1-eu"] != "brand-a" {
		t.Errorf("example loads as %v", a)
	}
}

// TestLoadAccountsReportsEveryProblemAtOnce: one file with every problem
// an account can have; each is reported, in one error, naming the account
// and the field, and no key is quoted.
func TestLoadAccountsReportsEveryProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-key")
	spaced := writeFile(t, dir, "spaced", "sec SPACED9137\n")
	p := writeFile(t, dir, "accounts.yaml", `
accounts:
  - name: brand-a
    select: [s1, s1, s2]
    public_key_env: A_PUB
    secret_key: secINFILE9137
    rate_limit: -1
    concurrency: -2
  - name: brand-a
    select: [s2]
    public_key_env: UNSET_PUB
    secret_key_env: EMPTY_SEC
  - name: Brand C
    default: true
    public_key_env: A_PUB
    secret_key_file: `+missing+`
    order_prefix: "A-\tB"
  - select: [s3]
    public_key_env: A_PUB
    public_key_file: `+spaced+`
    secret_key_file: `+spaced+`
    order_prefix: "0123456789012345678901234567890123"
  - name: idle
    public_key_env: secLOOKSLIKEAKEY9137
    secret_key_env: A_SEC
    rate_limit: fast
    colour: blue
  - name: other-default
    default: true
`)
	env := map[string]string{"A_PUB": aPublic, "A_SEC": aSecret, "EMPTY_SEC": " "}
	_, err := LoadAccounts(p, envOf(env))
	if err == nil {
		t.Fatal("LoadAccounts accepted a file full of problems")
	}
	problems := unjoin(err)
	wants := [][]string{
		{`"secret_key"`, `account "brand-a"`, "secret_key_env", "secret_key_file", "is not a field"}, // key in the file
		{`account "idle"`, "rate_limit (line", "must be a number"},                                   // wrong type
		{`account "idle"`, `unknown field "colour"`, "public_key_env"},                               // unknown field
		{"route is not set", "context.groupId"},                                                      // no route
		{`account "brand-a": select has "s1" twice`},                                                 // duplicate select, one account
		{`account "brand-a": rate_limit`, "0 or more"},                                               // negative rate
		{`account "brand-a": concurrency is negative`, "PIPELINE_CONCURRENCY"},                       // negative concurrency
		{`account 2: name "brand-a" is also the name of account 1`, "rename"},                        // duplicate name
		{`account 2: select value "s2" is also selected by account "brand-a"`},                       // duplicate across accounts
		{`account 2: public_key_env names UNSET_PUB, which is not set`},                              // env unset
		{`account 2: secret_key_env names EMPTY_SEC, which is not set or empty`},                     // env empty
		{`account 3: name "Brand C" has characters other than`},                                      // invalid name
		{`account 3: secret_key_file cannot be read`, missing},                                       // unreadable file
		{`account 3: order_prefix "A-\tB" has control characters`},                                   // control characters
		{`account 4 has no name`},                                                                    // no name
		{`account 4 has both public_key_env and public_key_file`},                                    // two references
		{`account 4: the secret key (from secret_key_file) contains whitespace`},                     // whitespace
		{`account 4: order_prefix is longer than 32`},                                                // long prefix
		{`account "idle": public_key_env is not an environment variable name`},                       // key in place of a name
		{`account "idle" has no select and is not the default`, "default: true"},                     // unreachable
		{`account "other-default" has no public key`, "public_key_env", "public_key_file"},           // no public key reference
		{`account "other-default" has no secret key`, "secret_key_env", "secret_key_file"},           // no secret key reference
		{`account 3, account "other-default" are all the default`, "one of them"},                    // two defaults
	}
	for _, want := range wants {
		found := 0
		for _, p := range problems {
			if containsAll(p.Error(), want) {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%d problems contain all of %q, want 1", found, want)
		}
	}
	if len(problems) != len(wants) {
		t.Errorf("%d problems, want %d:\n%v", len(problems), len(wants), err)
	}
	for _, e := range problems {
		if !strings.HasPrefix(e.Error(), "ACCOUNTS_FILE "+p+": ") {
			t.Errorf("problem does not start with ACCOUNTS_FILE and the path: %v", e)
		}
	}
	for _, s := range []string{"9137", aPublic, aSecret, "SPACED", "LOOKSLIKE", "blue"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error shows %q:\n%v", s, err)
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestLoadAccountsFileProblems: problems of the file as a whole.
func TestLoadAccountsFileProblems(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, content string
		want          []string
	}{
		{"no accounts", "route: context.groupId\naccounts: []\n", []string{"has no accounts"}},
		{"no accounts field", "route: context.groupId\n", []string{"has no accounts"}},
		{"bad route", "route: context..groupId\naccounts: [{name: a, default: true, public_key_env: P, secret_key_env: S}]\n", []string{`route "context..groupId" is not a dotted JSON path`}},
		{"empty", "# nothing\n", []string{"is empty"}},
		{"not yaml", "route: [a\n", []string{"is not YAML or JSON"}},
		{"not a mapping", "- route\n", []string{"is not a mapping"}},
		{"unknown top-level field", "route: a.b\nroutes: c\naccounts: [{name: a, default: true, public_key_env: P, secret_key_env: S}]\n", []string{`unknown field "routes"`, "route and accounts"}},
		{"repeated field", "route: a.b\nroute: c\naccounts: [{name: a, default: true, public_key_env: P, secret_key_env: S}]\n", []string{"route is given twice (lines 1 and 2)"}},
		{"account not a mapping", "route: a.b\naccounts: [brand-a]\n", []string{"account 1 (line 2) is not a mapping"}},
		{"select not a list", "route: a.b\naccounts: [{name: a, select: s1, public_key_env: P, secret_key_env: S}]\n", []string{`account "a" (line 2): select (line 2) must be a list`}},
		{"two documents", "route: a.b\naccounts: [{name: a, default: true, public_key_env: P, secret_key_env: S}]\n---\nroute: c\n", []string{"more than one YAML document"}},
		{"empty select value", "route: a.b\naccounts: [{name: a, select: [s1, \"\"], public_key_env: P, secret_key_env: S}]\n", []string{`account "a": select has an empty value`}},
		{"api key in the file", "route: a.b\naccounts: [{name: a, default: true, api_key: x.y}]\n", []string{`"api_key" (line 2) is not a field`, "public_key_env or public_key_file"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "-")+".yaml", c.content)
			_, err := LoadAccounts(p, envOf(map[string]string{"P": aPublic, "S": aSecret}))
			if err == nil {
				t.Fatal("accepted")
			}
			if problems := unjoin(err); len(problems) != 1 || !containsAll(err.Error(), append(c.want, "ACCOUNTS_FILE "+p+": ")) {
				t.Errorf("error %q, want one problem with %q", err, c.want)
			}
		})
	}
	if _, err := LoadAccounts(filepath.Join(dir, "absent.yaml"), envOf(nil)); err == nil || !strings.Contains(err.Error(), "ACCOUNTS_FILE cannot be read") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestNoAccountsFile(t *testing.T) {
	a, err := Config{}.LoadAccounts()
	if a != nil || err != nil {
		t.Errorf("LoadAccounts without ACCOUNTS_FILE = %v, %v; want nil, nil", a, err)
	}
	if a.Selectors() != nil || a.DefaultAccount() != "" || a.String() != "" {
		t.Error("nil Accounts is not empty")
	}
	c := mustLoad(t, validEnv(nil))
	if a, err := c.LoadAccounts(); a != nil || err != nil {
		t.Errorf("loaded Config without ACCOUNTS_FILE: LoadAccounts = %v, %v", a, err)
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "accounts") {
		t.Errorf("Print shows accounts without ACCOUNTS_FILE:\n%s", b.String())
	}
}

// accountsEnv writes the valid accounts file and returns validEnv without
// the single account's keys, plus ACCOUNTS_FILE and the accounts' variables.
func accountsEnv(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	keyFile := writeFile(t, dir, "b-secret", bSecret+"\n")
	p := writeFile(t, dir, "accounts.yaml", strings.Replace(validYAML, "KEYFILE", keyFile, 1))
	env := validEnv(map[string]string{"REFERSION_PUBLIC_KEY": "", "REFERSION_SECRET_KEY": "", "ACCOUNTS_FILE": p})
	for k, v := range validEnvAccounts {
		env[k] = v
	}
	return env
}

// TestValidateWithAccountsFile: with ACCOUNTS_FILE the single account's
// keys are optional, and the file's problems are reported with the others.
func TestValidateWithAccountsFile(t *testing.T) {
	env := accountsEnv(t)
	c := mustLoad(t, env)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	a, err := c.LoadAccounts()
	if err != nil {
		t.Fatal(err)
	}
	checkAccounts(t, a)
	if sc := c.Refersion.AccountSinkConfig(a.Accounts[0]); sc.RateLimit.PerSecond != 10 || !sc.Keys.IsSet() || sc.Endpoint != c.URL {
		t.Errorf("AccountSinkConfig = %+v", sc)
	}

	env["BRAND_A_SECRET_KEY"] = ""
	env["LOG_LEVEL"] = "loud"
	err = mustLoad(t, env).Validate()
	if err == nil {
		t.Fatal("Validate accepted an unset key variable")
	}
	problems := unjoin(err)
	if len(problems) != 2 || !strings.Contains(err.Error(), "LOG_LEVEL") || !strings.Contains(err.Error(), "BRAND_A_SECRET_KEY, which is not set") {
		t.Errorf("want LOG_LEVEL's and the account's problems, got:\n%v", err)
	}
}

// TestAccountsNeverShowSecrets: the loaded accounts printed every way show
// no secret key; their rendering shows the public keys.
func TestAccountsNeverShowSecrets(t *testing.T) {
	env := accountsEnv(t)
	c := mustLoad(t, env)
	a, err := c.LoadAccounts()
	if err != nil {
		t.Fatal(err)
	}
	if l := leaks(a, aSecret, bSecret); len(l) > 0 {
		t.Errorf("Accounts leak: %q", l)
	}
	if l := leaks(a.Accounts[0], aSecret, aPublic); len(l) > 0 {
		t.Errorf("Account leaks: %q", l)
	}
	var d strings.Builder
	if err := a.Describe(&d); err != nil {
		t.Fatal(err)
	}
	want := `route context.groupId
account brand-a: select "store-1", "store-1-eu", "1001"; public key "` + aPublic + `"; secret key ****; order prefix "A-"; rate limit 10/s; concurrency 32
account brand_b (default): select none; public key "` + bPublic + `"; secret key ****; order prefix none; rate limit REFERSION_RATE_LIMIT; concurrency PIPELINE_CONCURRENCY
`
	if d.String() != want || a.String() != want {
		t.Errorf("Describe =\n%s\nwant\n%s", d.String(), want)
	}
}

// TestPrintShowsAccountsMasked: Print and PrintSources show the accounts
// with their public keys and no secret key; with a bad file, they say so
// and Validate's problems quote no key.
func TestPrintShowsAccountsMasked(t *testing.T) {
	env := accountsEnv(t)
	c := mustLoad(t, env)
	for name, print := range map[string]func(*strings.Builder) error{
		"Print":        func(b *strings.Builder) error { return c.Print(b) },
		"PrintSources": func(b *strings.Builder) error { return c.PrintSources(b, os.LookupEnv) },
	} {
		var b strings.Builder
		if err := print(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if !strings.Contains(out, "\n# accounts of ACCOUNTS_FILE (2)\n# route context.groupId\n# account brand-a: select") || !strings.Contains(out, aPublic) || !strings.Contains(out, bPublic) {
			t.Errorf("%s does not show the accounts:\n%s", name, out)
		}
		for _, s := range []string{aSecret, bSecret} {
			if strings.Contains(out, s) {
				t.Errorf("%s shows a secret key:\n%s", name, out)
			}
		}
	}

	// A file with problems: Print says so; Validate's problems quote no key.
	env["BRAND_A_PUBLIC_KEY"] = "pub " + aPublic
	c = mustLoad(t, env)
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "# accounts of ACCOUNTS_FILE: not shown, the file has problems") {
		t.Errorf("Print with a bad file:\n%s", b.String())
	}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "public key (from public_key_env) contains whitespace") {
		t.Fatalf("Validate: %v", err)
	}
	for _, s := range []string{aPublic, aSecret, bPublic, bSecret} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("Validate shows a key: %v", err)
		}
	}
	for _, s := range []string{aSecret, bSecret} {
		if strings.Contains(b.String(), s) {
			t.Errorf("Print shows a secret key:\n%s", b.String())
		}
	}
}
