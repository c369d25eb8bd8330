package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Load reads the configuration from the process environment; an unset
// variable takes its default. Load fails only when values cannot be parsed:
// it then reports every such variable at once, joined with errors.Join, each
// message naming the variable and the expected form, never the value. It then:
//
//   - trims every string and list element, drops empty list elements,
//     lower-cases the enumerations and upper-cases DEFAULT_CURRENCY;
//   - derives KAFKA_DLQ_TOPIC from KAFKA_TOPIC when it is empty;
//   - reads each *_FILE variable into its secret, and splits
//     REFERSION_API_KEY into PublicKey and SecretKey;
//   - moves ADMIN_ADDR's default to 127.0.0.1:9464 when ADMIN_TOKEN is set.
//
// Problems found in the last step (an unreadable file, two forms of one
// secret, a malformed REFERSION_API_KEY) are kept in the Config and reported
// by Validate together with every other problem. Code that builds a Config
// by hand sets PublicKey, SecretKey and Password directly.
func Load() (Config, error) {
	var c Config
	if errs := c.process(); len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	c.normalize()
	c.problems = c.resolveSecrets(os.ReadFile)
	c.adminDefault(os.LookupEnv)
	return c, nil
}

// LocalAdminAddr is ADMIN_ADDR's default when ADMIN_TOKEN is set: the
// console's actions are then served to this machine only, unless ADMIN_ADDR
// says otherwise.
const LocalAdminAddr = "127.0.0.1:9464"

// adminDefault moves ADMIN_ADDR to LocalAdminAddr when ADMIN_TOKEN is set
// and ADMIN_ADDR is not.
func (c *Config) adminDefault(lookup func(string) (string, bool)) {
	if _, set := lookup("ADMIN_ADDR"); !set && c.AdminToken.IsSet() {
		c.AdminAddr = LocalAdminAddr
	}
}

// process fills c from the environment one variable at a time, and returns
// a parse error for every variable that failed. Each variable goes through
// envconfig alone, as the only field of a struct built with that field's
// type and tags, so that it is read exactly as envconfig.Process would read
// the whole Config, except that one bad value does not hide the next.
func (c *Config) process() []error {
	v := reflect.ValueOf(c).Elem()
	var errs []error
	for _, x := range vars() {
		f := v.Type().FieldByIndex(x.index)
		one := reflect.New(reflect.StructOf([]reflect.StructField{{Name: "V", Type: f.Type, Tag: f.Tag}}))
		if err := envconfig.Process("", one.Interface()); err != nil {
			errs = append(errs, parseError(x, err))
			continue
		}
		v.FieldByIndex(x.index).Set(one.Elem().Field(0))
	}
	return errs
}

// parseError rewrites envconfig's error, which quotes the raw value, into one
// that names the variable, says what is wrong and shows the expected form.
func parseError(x variable, err error) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s cannot be read: %s", x.Name, setLike(x.Name))
	}
	kind := map[string]string{
		"int":           "a whole number",
		"float64":       "a number",
		"bool":          "true or false",
		"time.Duration": "a duration such as 500ms, 30s or 2h",
	}[pe.TypeName]
	if kind == "" {
		kind = "a " + pe.TypeName
	}
	if ne := (*strconv.NumError)(nil); errors.As(pe.Err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
		return fmt.Errorf("%s is %s out of range: %s", x.Name, kind, setLike(x.Name))
	}
	return fmt.Errorf("%s is not %s: %s", x.Name, kind, setLike(x.Name))
}

// normalize trims every plain string, cleans the lists, derives
// KAFKA_DLQ_TOPIC and puts enumerations and the currency in canonical case.
func (c *Config) normalize() {
	v := reflect.ValueOf(c).Elem()
	for _, x := range vars() {
		if f := v.FieldByIndex(x.index); f.Kind() == reflect.String {
			f.SetString(strings.TrimSpace(f.String()))
		}
	}
	c.Brokers = cleanList(c.Brokers)
	c.OrderEvents = cleanList(c.OrderEvents)
	c.CartIDSources = cleanList(c.CartIDSources)
	c.RefundEvents, c.CancelEvents = cleanList(c.RefundEvents), cleanList(c.CancelEvents)
	if c.DLQTopic == "" && c.Topic != "" {
		c.DLQTopic = c.Topic + ".refersion-dlq"
	}
	for _, p := range []*string{&c.StartOffset, &c.Mechanism, &c.Backend, &c.LogLevel, &c.LogFormat} {
		*p = strings.ToLower(*p)
	}
	c.DefaultCurrency = strings.ToUpper(c.DefaultCurrency)
}

// cleanList trims every element and drops the empty ones.
func cleanList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// resolveSecrets reads every *_FILE variable into its secret, then splits
// REFERSION_API_KEY. Messages name variables only, never a secret's value.
func (c *Config) resolveSecrets(read func(string) ([]byte, error)) []error {
	var errs []error
	for _, s := range []struct {
		name, file string
		dst        *Secret
	}{
		{"KAFKA_SASL_PASSWORD", c.PasswordFile, &c.Password},
		{"REFERSION_PUBLIC_KEY", c.PublicKeyFile, &c.PublicKey},
		{"REFERSION_SECRET_KEY", c.SecretKeyFile, &c.SecretKey},
		{"REFERSION_API_KEY", c.APIKeyFile, &c.APIKey},
		{"ADMIN_TOKEN", c.AdminTokenFile, &c.AdminToken},
	} {
		if s.file == "" {
			continue
		}
		if s.dst.IsSet() {
			errs = append(errs, fmt.Errorf("%[1]s and %[1]s_FILE are both set: keep one of them", s.name))
			continue
		}
		b, err := read(s.file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s_FILE cannot be read (%w): mount the secret at that path or correct it", s.name, err))
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			errs = append(errs, fmt.Errorf("%s_FILE names an empty file: put the secret in it or correct the path", s.name))
			continue
		}
		*s.dst = NewSecret(v)
	}
	if c.RedisURLFile != "" {
		switch b, err := read(c.RedisURLFile); {
		case c.RedisURL.IsSet():
			errs = append(errs, errors.New("REDIS_URL and REDIS_URL_FILE are both set: keep one of them"))
		case err != nil:
			errs = append(errs, fmt.Errorf("REDIS_URL_FILE cannot be read (%w): mount the secret at that path or correct it", err))
		case strings.TrimSpace(string(b)) == "":
			errs = append(errs, errors.New("REDIS_URL_FILE names an empty file: put the URL in it or correct the path"))
		default:
			c.RedisURL = NewURL(strings.TrimSpace(string(b)))
		}
	}
	if err := c.splitAPIKey(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// splitAPIKey turns REFERSION_API_KEY=public.secret into PublicKey and SecretKey.
func (c *Config) splitAPIKey() error {
	if !c.APIKey.IsSet() {
		return nil
	}
	api := given("REFERSION_API_KEY", c.APIKeyFile)
	for _, k := range []struct {
		name, file string
		v          Secret
	}{
		{"REFERSION_PUBLIC_KEY", c.PublicKeyFile, c.PublicKey},
		{"REFERSION_SECRET_KEY", c.SecretKeyFile, c.SecretKey},
	} {
		if k.v.IsSet() {
			return fmt.Errorf("%s and %s are both set: give the keys either as REFERSION_API_KEY=<public>.<secret> or as REFERSION_PUBLIC_KEY and REFERSION_SECRET_KEY, not both",
				api, given(k.name, k.file))
		}
	}
	pub, sec, ok := strings.Cut(c.APIKey.Reveal(), ".")
	if !ok || pub == "" || sec == "" || strings.Contains(sec, ".") {
		return fmt.Errorf("%s is not of the form <public>.<secret>: set it to the public key, one dot, then the secret key", api)
	}
	c.PublicKey, c.SecretKey = NewSecret(pub), NewSecret(sec)
	return nil
}

// given names the variable a secret came from: name, or name_FILE when file is set.
func given(name, file string) string {
	if file != "" {
		return name + "_FILE"
	}
	return name
}
