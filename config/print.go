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
// in table order. Secrets print as "****" when set and as nothing when unset;
// URL-valued settings (REFERSION_URL, REDIS_URL) print with their credentials
// masked, or as "****" when they do not parse (see maskURL).
func (c Config) Print(w io.Writer) error {
	v := reflect.ValueOf(c)
	var b strings.Builder
	for _, x := range vars() {
		fmt.Fprintf(&b, "%s=%s\n", x.Name, x.safe(display(v.FieldByIndex(x.index).Interface())))
	}
	_, err := io.WriteString(w, b.String())
	return err
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
Secrets (` + "`REFERSION_PUBLIC_KEY`, `REFERSION_SECRET_KEY`, `REFERSION_API_KEY`, `KAFKA_SASL_PASSWORD`" + `)
are masked wherever the configuration is printed. Each can be given instead as a file, for
Kubernetes secrets: set the variable's ` + "`_FILE`" + ` form to the path; the file's content, trimmed
of whitespace, is the value. Giving two forms of one secret is an error.
URL-valued settings (` + strings.Join(urls, ", ") + `) print with the password, a lone user
name and password-like query parameters replaced by ` + "`xxxxx`" + `, or as ` + "`****`" + ` when
they do not parse as a URL; validation messages never quote a secret either.
` + "`refersion-relay config`" + ` prints the effective configuration and exits non-zero, listing every
problem, when it is invalid.

OpenTelemetry's standard variables (` + "`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, ..." + `)
are read by the OpenTelemetry SDK itself and are not listed here.
`)
	return b.String()
}
