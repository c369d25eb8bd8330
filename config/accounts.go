package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/refersion-relay/refersion-relay/sink"
)

// Accounts is the accounts file named by ACCOUNTS_FILE: several Refersion
// accounts fed by one stream, the account of each event chosen by the value
// of one of its fields. LoadAccounts returns it valid: Route is a dotted
// path, names are unique, a select value chooses one account, at most one
// account is the default and every key is resolved.
type Accounts struct {
	Route    string    // dotted JSON path of the event field that chooses the account
	Accounts []Account // in file order
}

// Account is one Refersion account of an accounts file.
type Account struct {
	Name        string   // [a-z0-9_-]+, unique: names the account in logs, metrics, /readyz and dead letters
	Select      []string // values of the route field that choose this account, compared as text
	Default     bool     // takes the events whose route value selects no account
	PublicKey   Secret   // resolved from public_key_env or public_key_file, trimmed
	SecretKey   Secret   // resolved from secret_key_env or secret_key_file, trimmed
	OrderPrefix string   // prepended to this account's order ids; "" for none
	RateLimit   float64  // requests per second; 0 means REFERSION_RATE_LIMIT
	Concurrency int      // requests in flight at most; 0 means PIPELINE_CONCURRENCY
}

// Keys is the account's key pair as the sink sends it.
func (a Account) Keys() sink.Keys { return sink.NewKeys(a.PublicKey.Reveal(), a.SecretKey.Reveal()) }

// Selectors maps each select value to the name of the account it chooses.
// It is a new map on every call; nil for nil Accounts.
func (a *Accounts) Selectors() map[string]string {
	if a == nil {
		return nil
	}
	m := map[string]string{}
	for _, acc := range a.Accounts {
		for _, v := range acc.Select {
			m[v] = acc.Name
		}
	}
	return m
}

// DefaultAccount is the name of the default account, or "" when there is none.
func (a *Accounts) DefaultAccount() string {
	if a == nil {
		return ""
	}
	for _, acc := range a.Accounts {
		if acc.Default {
			return acc.Name
		}
	}
	return ""
}

// String renders the accounts for people, one line for the route and one
// per account: the public key shown (it names the account), the secret key
// masked as Secret masks it. "" for nil Accounts.
func (a *Accounts) String() string {
	if a == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "route %s\n", a.Route)
	for _, acc := range a.Accounts {
		b.WriteString("account " + acc.Name)
		if acc.Default {
			b.WriteString(" (default)")
		}
		sel := "none"
		if len(acc.Select) > 0 {
			q := make([]string, len(acc.Select))
			for i, v := range acc.Select {
				q[i] = strconv.Quote(v)
			}
			sel = strings.Join(q, ", ")
		}
		prefix := "none"
		if acc.OrderPrefix != "" {
			prefix = strconv.Quote(acc.OrderPrefix)
		}
		rate := "REFERSION_RATE_LIMIT"
		if acc.RateLimit > 0 {
			rate = strconv.FormatFloat(acc.RateLimit, 'f', -1, 64) + "/s"
		}
		conc := "PIPELINE_CONCURRENCY"
		if acc.Concurrency > 0 {
			conc = strconv.Itoa(acc.Concurrency)
		}
		fmt.Fprintf(&b, ": select %s; public key %s; secret key %s; order prefix %s; rate limit %s; concurrency %s\n",
			sel, strconv.Quote(acc.PublicKey.Reveal()), acc.SecretKey, prefix, rate, conc)
	}
	return b.String()
}

// Describe writes String to w.
func (a *Accounts) Describe(w io.Writer) error {
	_, err := io.WriteString(w, a.String())
	return err
}

// LoadAccounts reads the accounts file at path (YAML, or JSON, which is
// YAML) and validates it, resolving each key from the environment variable
// (getenv) or the file it names. It returns every problem at once, joined
// with errors.Join, each naming ACCOUNTS_FILE, the account and the field
// and saying how to fix it. No message contains a key: a key is never
// quoted, nor a field that is not allowed in the file (such as secret_key),
// nor a variable name that may be a key written in its place. A nil getenv
// is os.Getenv.
func LoadAccounts(path string, getenv func(string) string) (*Accounts, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ACCOUNTS_FILE cannot be read (%w): correct the path or mount the file there", err)
	}
	l := accountsLoader{path: path, getenv: getenv}
	f, ok := l.decode(b)
	if !ok {
		return nil, errors.Join(l.errs...)
	}
	a := l.validate(f)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return a, nil
}

// LoadAccounts loads ACCOUNTS_FILE with the process environment (see the
// package function LoadAccounts); nil and no error when it is not set.
func (c Config) LoadAccounts() (*Accounts, error) {
	if c.AccountsFile == "" {
		return nil, nil
	}
	return LoadAccounts(c.AccountsFile, os.Getenv)
}

// AccountSinkConfig is the webhook sink's configuration for account a: the
// REFERSION_* settings (see SinkConfig) with a's keys, and a's rate limit
// when it has one.
func (r Refersion) AccountSinkConfig(a Account) sink.Config {
	c := r.SinkConfig()
	c.Keys = a.Keys()
	if a.RateLimit > 0 {
		c.RateLimit.PerSecond = a.RateLimit
	}
	return c
}

// accountsFile is the file as written; its yaml tags are the only fields
// allowed.
type accountsFile struct {
	Route    string         `yaml:"route"`
	Accounts []accountEntry `yaml:"accounts"`
}

type accountEntry struct {
	Name          string   `yaml:"name"`
	Select        []string `yaml:"select"`
	Default       bool     `yaml:"default"`
	PublicKeyEnv  string   `yaml:"public_key_env"`
	PublicKeyFile string   `yaml:"public_key_file"`
	SecretKeyEnv  string   `yaml:"secret_key_env"`
	SecretKeyFile string   `yaml:"secret_key_file"`
	OrderPrefix   string   `yaml:"order_prefix"`
	RateLimit     float64  `yaml:"rate_limit"`
	Concurrency   int      `yaml:"concurrency"`
}

// maxOrderPrefix is the longest order_prefix, in characters.
const maxOrderPrefix = 32

// accountsLoader collects the problems of one accounts file.
type accountsLoader struct {
	path   string
	getenv func(string) string
	errs   []error
	// noted holds, by account position (-1 for the top level), the fields
	// explain reported as unknown or of the wrong type, so that validate
	// does not report them missing too; an unknown field that looks like a
	// key notes the fields it stands for.
	noted map[int]map[string]bool
	// stop is set when the decoded file cannot be trusted: a field given
	// twice empties its mapping, an account that is not a mapping is left
	// out of the list (the positions of the others shift). Nothing more is
	// checked then.
	stop bool
}

// note records that field of account i (-1: the top level) was reported.
func (l *accountsLoader) note(i int, fields ...string) {
	if l.noted == nil {
		l.noted = map[int]map[string]bool{}
	}
	if l.noted[i] == nil {
		l.noted[i] = map[string]bool{}
	}
	for _, f := range fields {
		l.noted[i][f] = true
	}
}

// problem records one problem, prefixed with ACCOUNTS_FILE and its path.
func (l *accountsLoader) problem(format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("ACCOUNTS_FILE %s: "+format, append([]any{l.path}, args...)...))
}

// decode reads b with unknown fields refused (KnownFields). The decoder's
// own messages quote values, so its type errors are explained by
// explain, which names fields and lines only. ok is false when nothing
// more can be checked.
func (l *accountsLoader) decode(b []byte) (f accountsFile, ok bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		l.problem("is not YAML or JSON (%s): correct it (see deploy/accounts.example.yaml)", strings.TrimPrefix(err.Error(), "yaml: "))
		return f, false
	}
	if len(root.Content) == 0 {
		l.problem("is empty: write route and accounts in it (see deploy/accounts.example.yaml)")
		return f, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(&f)
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te):
		n := len(l.errs)
		l.explain(root.Content[0])
		if len(l.errs) == n { // not explained: name the lines only
			for _, e := range te.Errors {
				line, _, _ := strings.Cut(e, ":")
				l.problem("%s: a field is unknown or its value has the wrong type: correct it (see deploy/accounts.example.yaml)", line)
			}
		}
		return f, root.Content[0].Kind == yaml.MappingNode && !l.stop
	case err != nil:
		l.problem("cannot be decoded (%s): correct it (see deploy/accounts.example.yaml)", strings.TrimPrefix(err.Error(), "yaml: "))
		return f, false
	}
	var more yaml.Node
	if dec.Decode(&more) != io.EOF {
		l.problem("has more than one YAML document: keep one, with route and accounts")
	}
	return f, true
}

// explain reports each unknown field, repeated field and value of the wrong
// type in doc, the file's top node.
func (l *accountsLoader) explain(doc *yaml.Node) {
	if doc.Kind != yaml.MappingNode {
		l.problem("line %d: the file is not a mapping: write route: and accounts: at its top level (see deploy/accounts.example.yaml)", doc.Line)
		return
	}
	l.fields(doc, reflect.TypeFor[accountsFile](), -1, "", func(key *yaml.Node) (string, []string) {
		return fmt.Sprintf("line %d: unknown field %s: the file has only route and accounts", key.Line, strconv.Quote(key.Value)), nil
	})
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "accounts" || doc.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for j, item := range doc.Content[i+1].Content {
			who := accountLabel(j, item)
			if item.Kind != yaml.MappingNode {
				l.problem("%s is not a mapping: write its fields, name: and the others, under it", who)
				l.stop = true
				continue
			}
			l.fields(item, reflect.TypeFor[accountEntry](), j, who+": ", func(key *yaml.Node) (string, []string) {
				msg, stands := unknownAccountField(key)
				return who + ": " + msg, stands
			})
		}
	}
}

// fields checks the keys of mapping m, account i (-1: the top level),
// against the yaml tags of t: unknown keys (described by unknown, which
// also says which fields such a key stands for), repeated keys and values
// that do not decode into the field's type. at prefixes the messages about
// known fields.
func (l *accountsLoader) fields(m *yaml.Node, t reflect.Type, i int, at string, unknown func(*yaml.Node) (string, []string)) {
	types := map[string]reflect.Type{}
	for f := range t.NumField() {
		types[t.Field(f).Tag.Get("yaml")] = t.Field(f).Type
	}
	seen := map[string]int{}
	for k := 0; k+1 < len(m.Content); k += 2 {
		key, val := m.Content[k], m.Content[k+1]
		ft, ok := types[key.Value]
		if !ok || key.Kind != yaml.ScalarNode {
			msg, stands := unknown(key)
			l.problem("%s", msg)
			l.note(i, stands...)
			continue
		}
		if line, dup := seen[key.Value]; dup {
			l.problem("%s%s is given twice (lines %d and %d): keep one", at, key.Value, line, key.Line)
			l.stop = true
			continue
		}
		seen[key.Value] = key.Line
		ok = true
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			ok = val.Kind == yaml.SequenceNode // its items are checked one by one
		} else if err := val.Decode(reflect.New(ft).Interface()); err != nil {
			ok = false
		}
		if !ok {
			l.problem("%s%s (line %d) must be %s: correct it", at, key.Value, val.Line, kindOf(ft, key.Value))
			l.note(i, key.Value)
		}
	}
}

// accountLabel names the j-th account (from 0) of the file: by its name
// when it has a plausible one, else by position, with its line.
func accountLabel(j int, item *yaml.Node) string {
	if item.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(item.Content); i += 2 {
			if k, v := item.Content[i], item.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && validName(v.Value) {
				return fmt.Sprintf("account %q (line %d)", v.Value, item.Line)
			}
		}
	}
	return fmt.Sprintf("account %d (line %d)", j+1, item.Line)
}

// unknownAccountField describes an unknown field of an account, and says
// which fields it stands for: a key written in the file is pointed to the
// _env and _file forms. The field's value is never quoted.
func unknownAccountField(key *yaml.Node) (string, []string) {
	name := strings.ToLower(key.Value)
	for _, k := range []string{"secret", "public"} {
		if strings.Contains(name, k) {
			return fmt.Sprintf("%s (line %d) is not a field: a key is never written in the accounts file; name the environment variable that holds it with %[3]s_key_env, or the file with %[3]s_key_file",
				strconv.Quote(key.Value), key.Line, k), []string{k + "_key_env"}
		}
	}
	if strings.Contains(name, "key") {
		return fmt.Sprintf("%s (line %d) is not a field: a key is never written in the accounts file; give each key as public_key_env or public_key_file, and secret_key_env or secret_key_file",
			strconv.Quote(key.Value), key.Line), []string{"public_key_env", "secret_key_env"}
	}
	return fmt.Sprintf("unknown field %s (line %d): an account has name, select, default, public_key_env, public_key_file, secret_key_env, secret_key_file, order_prefix, rate_limit and concurrency",
		strconv.Quote(key.Value), key.Line), nil
}

// kindOf says what a value of type t is, for field.
func kindOf(t reflect.Type, field string) string {
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "a list of accounts, each a mapping with name: and the other fields"
		}
		return "a list of values, e.g. " + field + ": [store-1, store-2]"
	case reflect.Bool:
		return "true or false"
	case reflect.Float64:
		return "a number"
	case reflect.Int:
		return "a whole number"
	}
	return "a single value (text)"
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)
	// envRE is an environment variable name as a key reference must be
	// written: upper case, the convention, so that a key written in its
	// place is refused without being quoted.
	envRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

func validName(s string) bool { return nameRE.MatchString(s) }

// validate checks f and resolves its keys. A field explain already
// reported (noted) is not reported again as missing.
func (l *accountsLoader) validate(f accountsFile) *Accounts {
	a := &Accounts{Route: f.Route}
	switch {
	case f.Route == "" && !l.noted[-1]["route"]:
		l.problem("route is not set: set it to the event field that chooses the account, a dotted JSON path such as route: context.groupId")
	case f.Route != "" && !validRoute(f.Route):
		l.problem("route %s is not a dotted JSON path: write field names joined by dots, such as context.groupId or properties.store", strconv.Quote(f.Route))
	}
	if len(f.Accounts) == 0 && !l.noted[-1]["accounts"] {
		l.problem("has no accounts: list them under accounts:, each with name, select (or default: true) and its keys")
	}
	type owner struct {
		who string
		i   int
	}
	names := map[string]int{}     // name to the position of the first account with it
	selects := map[string]owner{} // select value to its account
	var defaults []string
	for i, e := range f.Accounts {
		noted := l.noted[i]
		who := fmt.Sprintf("account %d", i+1)
		switch {
		case e.Name == "" && noted["name"]:
		case e.Name == "":
			l.problem("%s has no name: set name: to letters a-z, digits, - and _, unique in the file", who)
		case !validName(e.Name):
			l.problem("%s: name %s has characters other than a-z, 0-9, - and _: rename it, e.g. name: brand-a", who, strconv.Quote(e.Name))
		default:
			if first, dup := names[e.Name]; dup {
				l.problem("%s: name %s is also the name of account %d: rename one, names are unique", who, strconv.Quote(e.Name), first+1)
			} else {
				names[e.Name] = i
				who = fmt.Sprintf("account %q", e.Name)
			}
		}
		for _, v := range e.Select {
			if v == "" {
				l.problem("%s: select has an empty value: remove it, or write the value of %s that chooses this account", who, f.Route)
				continue
			}
			switch other, dup := selects[v]; {
			case dup && other.i == i:
				l.problem("%s: select has %s twice: keep one", who, strconv.Quote(v))
			case dup:
				l.problem("%s: select value %s is also selected by %s: a value chooses one account; remove it from one of them", who, strconv.Quote(v), other.who)
			default:
				selects[v] = owner{who, i}
			}
		}
		if e.Default {
			defaults = append(defaults, who)
		} else if len(e.Select) == 0 && !noted["select"] {
			l.problem("%s has no select and is not the default, so no event would reach it: list the values of the route field that choose it under select:, or set default: true", who)
		}
		acc := Account{Name: e.Name, Select: e.Select, Default: e.Default, OrderPrefix: e.OrderPrefix, RateLimit: e.RateLimit, Concurrency: e.Concurrency}
		acc.PublicKey = l.key(who, "public", e.PublicKeyEnv, e.PublicKeyFile, noted)
		acc.SecretKey = l.key(who, "secret", e.SecretKeyEnv, e.SecretKeyFile, noted)
		if e.RateLimit < 0 || math.IsNaN(e.RateLimit) || math.IsInf(e.RateLimit, 0) {
			l.problem("%s: rate_limit must be a finite number of requests per second, 0 or more: set it like rate_limit: 10, or 0 (or leave it out) for REFERSION_RATE_LIMIT", who)
		}
		if e.Concurrency < 0 {
			l.problem("%s: concurrency is negative: set it like concurrency: 32, or 0 (or leave it out) for PIPELINE_CONCURRENCY", who)
		}
		switch {
		case strings.ContainsFunc(e.OrderPrefix, unicode.IsControl):
			l.problem("%s: order_prefix %s has control characters: use printable characters only, e.g. order_prefix: \"A-\"", who, strconv.Quote(e.OrderPrefix))
		case utf8.RuneCountInString(e.OrderPrefix) > maxOrderPrefix:
			l.problem("%s: order_prefix is longer than %d characters: shorten it, e.g. order_prefix: \"A-\"", who, maxOrderPrefix)
		}
		a.Accounts = append(a.Accounts, acc)
	}
	if len(defaults) > 1 {
		l.problem("%s are all the default: a single account catches the events no account selects; keep default: true on one of them only", strings.Join(defaults, ", "))
	}
	return a
}

// validRoute reports whether route is a dotted path of non-empty names,
// none with spaces at either end.
func validRoute(route string) bool {
	for s := range strings.SplitSeq(route, ".") {
		if s == "" || s != strings.TrimSpace(s) || strings.ContainsFunc(s, unicode.IsControl) {
			return false
		}
	}
	return true
}

// key resolves the kind ("public" or "secret") key of account who from the
// environment variable env or the file file, exactly one of which is set.
// Messages quote the variable's name only when it has the form of one
// (envRE), and never the key.
func (l *accountsLoader) key(who, kind, env, file string, noted map[string]bool) Secret {
	envField, fileField := kind+"_key_env", kind+"_key_file"
	var v string
	switch {
	case env == "" && file == "" && (noted[envField] || noted[fileField]):
		return Secret{}
	case env == "" && file == "":
		l.problem("%s has no %s key: set %s to the environment variable that holds it, or %s to a file holding it", who, kind, envField, fileField)
		return Secret{}
	case env != "" && file != "":
		l.problem("%s has both %s and %s: keep one of them", who, envField, fileField)
		return Secret{}
	case env != "" && !envRE.MatchString(env):
		l.problem("%s: %s is not an environment variable name (not shown, in case it is the key itself): write the name of the variable that holds the key, upper-case letters, digits and _, e.g. %s: BRAND_A_%s_KEY",
			who, envField, envField, strings.ToUpper(kind))
		return Secret{}
	case env != "":
		if v = strings.TrimSpace(l.getenv(env)); v == "" {
			l.problem("%s: %s names %s, which is not set or empty: set %s to the account's %s key, or correct %s", who, envField, env, env, kind, envField)
			return Secret{}
		}
	default:
		b, err := os.ReadFile(file)
		if err != nil {
			l.problem("%s: %s cannot be read (%v): mount the key at that path or correct %s", who, fileField, err, fileField)
			return Secret{}
		}
		if v = strings.TrimSpace(string(b)); v == "" {
			l.problem("%s: %s names an empty file, %s: put the %s key in it or correct the path", who, fileField, file, kind)
			return Secret{}
		}
	}
	if strings.ContainsFunc(v, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) {
		from := fileField
		if env != "" {
			from = envField
		}
		l.problem("%s: the %s key (from %s) contains whitespace or control characters, which cannot be sent in a header: copy the key again", who, kind, from)
		return Secret{}
	}
	return NewSecret(v)
}

// list is a.Accounts, nil for nil a.
func (a *Accounts) list() []Account {
	if a == nil {
		return nil
	}
	return a.Accounts
}
