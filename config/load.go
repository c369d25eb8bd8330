package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Load reads the configuration from the process environment; an unset
// variable takes its default. Load fails only when a value cannot be parsed
// (the error names the variable, never the value). It then:
//
//   - trims every string and list element, drops empty list elements,
//     lower-cases the enumerations and upper-cases DEFAULT_CURRENCY;
//   - derives KAFKA_DLQ_TOPIC from KAFKA_TOPIC when it is empty;
//   - reads each *_FILE variable into its secret, and splits
//     REFERSION_API_KEY into PublicKey and SecretKey.
//
// Problems found in the last step (an unreadable file, two forms of one
// secret, a malformed REFERSION_API_KEY) are kept in the Config and reported
// by Validate together with every other problem. Code that builds a Config
// by hand sets PublicKey, SecretKey and Password directly.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return Config{}, parseError(err)
	}
	c.normalize()
	c.problems = c.resolveSecrets(os.ReadFile)
	return c, nil
}

// parseError rewrites envconfig's error, which quotes the raw value, into one
// that names the variable and shows the expected form.
func parseError(err error) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return err
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
	return fmt.Errorf("%s is not %s: %s", pe.KeyName, kind, setLike(pe.KeyName))
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
