package config

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// variable is one environment variable, as declared by a field's tags.
type variable struct {
	Name, Default, Desc string
	index               []int // path of the field from Config, for FieldByIndex
	secret              bool  // a Secret: shown as "****" when set
	url                 bool  // a URL, or a string tagged mask:"url": shown through maskURL
	// print is how Print shows a Secret tagged print:"...": "plain" in
	// full (the public key), "public-part" up to its first dot, the rest
	// masked (REFERSION_API_KEY); errors still mask it whole.
	print string
}

// safe returns s, a value of x as written in the environment, the way every
// printed form shows it: a secret masked, a URL with its credentials masked,
// anything else as is.
func (x variable) safe(s string) string {
	switch {
	case x.secret && s != "":
		return mask
	case x.url:
		return maskURL(s)
	}
	return s
}

// lookup returns the variable called name; a name that is no variable gets
// one that shows its values fully masked, so that a typo cannot leak one.
func lookup(name string) variable {
	for _, v := range vars() {
		if v.Name == name {
			return v
		}
	}
	return variable{Name: name, secret: true}
}

// quote is the safe form of value, a value of variable name, quoted for an
// error message.
func quote(name, value string) string { return strconv.Quote(lookup(name).safe(value)) }

// vars lists every variable in declaration order: the order of the README
// table and of Print.
func vars() []variable {
	var out []variable
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			idx := append(slices.Clone(index), i)
			name, ok := f.Tag.Lookup("envconfig")
			switch {
			case ok:
				out = append(out, variable{
					Name: name, Default: f.Tag.Get("default"), Desc: f.Tag.Get("desc"), index: idx,
					secret: f.Type == reflect.TypeFor[Secret](),
					url:    f.Type == reflect.TypeFor[URL]() || f.Tag.Get("mask") == "url",
					print:  f.Tag.Get("print"),
				})
			case f.Anonymous && f.Type.Kind() == reflect.Struct:
				walk(f.Type, idx)
			}
		}
	}
	walk(reflect.TypeFor[Config](), nil)
	return out
}

// Print writes the effective configuration, one NAME=value line per variable
// in table order. Secrets print as "****" when set and as nothing when unset,
// except the public key, printed in full, and REFERSION_API_KEY, whose public
// part is printed; URL-valued settings (REFERSION_URL, REDIS_URL) print with
// their credentials masked, or as "****" when they do not parse (see maskURL).
// When ACCOUNTS_FILE is set, its accounts follow as comment lines (see
// accountsComment).
func (c Config) Print(w io.Writer) error {
	var b strings.Builder
	for _, x := range vars() {
		fmt.Fprintf(&b, "%s=%s\n", x.Name, c.shown(x))
	}
	if c.AccountsFile != "" {
		b.WriteString("\n" + c.accountsComment())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// accountsComment is the accounts of ACCOUNTS_FILE as Accounts.String
// renders them (public keys shown, secret keys masked), each line a comment
// so that the output still reads back as an environment file. When the
// file cannot be loaded it says so; Validate lists the problems.
func (c Config) accountsComment() string {
	a, err := c.LoadAccounts()
	if err != nil {
		return "# accounts of ACCOUNTS_FILE: not shown, the file has problems (listed with the others)\n"
	}
	lines := strings.Split(strings.TrimSuffix(a.String(), "\n"), "\n")
	return fmt.Sprintf("# accounts of ACCOUNTS_FILE (%d)\n# %s\n", len(a.Accounts), strings.Join(lines, "\n# "))
}

// PrintSources writes what Print writes in three groups, each under a
// comment line: the variables set in the environment (lookup says which;
// os.LookupEnv for the process), those not set whose value comes from
// others (KAFKA_DLQ_TOPIC from KAFKA_TOPIC, the keys from REFERSION_API_KEY
// or a *_FILE), and those at their default. Empty groups are left out. The
// accounts of ACCOUNTS_FILE follow, as in Print. The output still reads back
// as an environment file.
func (c Config) PrintSources(w io.Writer, lookup func(string) (string, bool)) error {
	var set, derived, defaults []string
	for _, x := range vars() {
		line := x.Name + "=" + c.shown(x)
		switch _, ok := lookup(x.Name); {
		case ok:
			set = append(set, line)
		case c.shown(x) != x.safe(x.Default):
			derived = append(derived, line)
		default:
			defaults = append(defaults, line)
		}
	}
	var b strings.Builder
	for _, g := range []struct {
		title string
		lines []string
	}{
		{"set in the environment", set},
		{"not set, taken from the variables above", derived},
		{"not set: defaults", defaults},
	} {
		if len(g.lines) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "# %s (%d)\n%s\n", g.title, len(g.lines), strings.Join(g.lines, "\n"))
	}
	if c.AccountsFile != "" {
		b.WriteString("\n" + c.accountsComment())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shown is the printed form of x's value in c.
func (c Config) shown(x variable) string {
	f := reflect.ValueOf(c).FieldByIndex(x.index).Interface()
	if s, ok := f.(Secret); ok {
		switch x.print {
		case "plain":
			return s.Reveal()
		case "public-part":
			if pub, _, ok := strings.Cut(s.Reveal(), "."); ok && pub != "" {
				return pub + "." + mask
			}
		}
	}
	return x.safe(display(f))
}

// display formats a field value the way it would be written in the environment.
func display(v any) string {
	switch x := v.(type) {
	case []string:
		return strings.Join(x, ",")
	case time.Duration:
		return shortDuration(x)
	default:
		return fmt.Sprint(x) // Secret and URL mask themselves
	}
}

// shortDuration drops the zero units time.Duration.String adds: 2160h0m0s is 2160h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Markdown returns the README's configuration reference, generated from the
// struct tags: one table row per variable in declaration order, then notes on
// secrets and OpenTelemetry. README.md holds it between the markers
// <!-- config:begin --> and <!-- config:end -->; `make docs` rewrites it there.
func Markdown() string {
	var b strings.Builder
	b.WriteString("<!-- Generated from config/config.go by `make docs`. Do not edit. -->\n\n")
	b.WriteString("| variable | default | description |\n|---|---|---|\n")
	var urls []string
	for _, v := range vars() {
		if v.url {
			urls = append(urls, "`"+v.Name+"`")
		}
		def := ""
		if v.Default != "" {
			def = "`" + v.safe(v.Default) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, def, strings.ReplaceAll(v.Desc, "|", `\|`))
	}
	b.WriteString(`
Secrets (` + "`REFERSION_SECRET_KEY`, `REFERSION_API_KEY`, `KAFKA_SASL_PASSWORD`, `ADMIN_TOKEN`" + `) are masked
wherever the configuration is printed; ` + "`config`" + ` shows the public key, which names the account,
and the public part of ` + "`REFERSION_API_KEY`" + `. Each key and password can be given instead as a file,
for Kubernetes secrets: set the variable's ` + "`_FILE`" + ` form to the path (` + "`REDIS_URL_FILE`" + ` too); the
file's content, trimmed of whitespace, is the value. Giving two forms of one secret is an error.
URL-valued settings (` + strings.Join(urls, ", ") + `) print with the password, a lone user
name and password-like query parameters replaced by ` + "`xxxxx`" + `, or as ` + "`****`" + ` when
they do not parse as a URL; validation messages never quote a secret either.
` + "`refersion-relay config`" + ` prints the effective configuration, grouped into the variables set, those
taken from them and the defaults, and exits non-zero, listing every problem, when it is invalid.

OpenTelemetry's standard variables (` + "`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, ..." + `)
are read by the OpenTelemetry SDK itself and are not listed here.
`)
	return b.String()
}
