package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate reports every problem of c at once, joined with errors.Join, or
// nil. Each message names the variable and says how to fix it; a value it
// quotes is shown as Print shows it (see quote), so none contains a secret.
// It checks what the run and replay commands need: brokers, topic and
// Refersion keys are required, the keys unless ACCOUNTS_FILE is set, whose
// problems (see LoadAccounts) are reported with the others. A stage that
// owns rules for its settings checks them itself (mapping.Options.Validate);
// its problems are reported under the variables' names. Its only I/O is
// reading ACCOUNTS_FILE and the key files it names.
func (c Config) Validate() error {
	errs := slices.Clone(c.problems)
	errs = append(errs, c.Kafka.check()...)
	errs = append(errs, c.Refersion.check()...)
	errs = append(errs, c.Mapping.check()...)
	errs = append(errs, c.State.check()...)
	errs = append(errs, c.Observability.check()...)
	errs = append(errs, c.Pipeline.check()...)
	accounts, err := c.LoadAccounts()
	errs = append(errs, unjoin(err)...)
	if len(errs) == 0 {
		// The sink owns its rules: what it would refuse at start is a
		// configuration problem now, not a failure of run. Its fields are
		// named after the REFERSION_* variables (see SinkConfig).
		if accounts == nil {
			if err := c.Refersion.SinkConfig().Validate(); err != nil {
				errs = append(errs, fmt.Errorf("REFERSION_* settings the webhook sink refuses: %w", err))
			}
		}
		for _, a := range accounts.list() {
			if err := c.Refersion.AccountSinkConfig(a).Validate(); err != nil {
				errs = append(errs, fmt.Errorf("ACCOUNTS_FILE account %q: its settings with REFERSION_*'s, which the webhook sink refuses: %w", a.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (k Kafka) check() []error {
	var errs []error
	if len(k.Brokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS is empty: set it to a comma list of host:port, e.g. KAFKA_BROKERS=kafka-0:9092,kafka-1:9092"))
	}
	for _, b := range k.Brokers {
		if !isHostPort(b, true) {
			errs = append(errs, fmt.Errorf("KAFKA_BROKERS has %s, which is not host:port: write each broker as host:port, e.g. kafka-0:9092", quote("KAFKA_BROKERS", b)))
		}
	}
	switch {
	case k.Topic == "":
		errs = append(errs, errors.New("KAFKA_TOPIC is empty: set it to the topic of Segment events, e.g. KAFKA_TOPIC=segment-events"))
	case !isTopic(k.Topic):
		errs = append(errs, fmt.Errorf("KAFKA_TOPIC %s is not a Kafka topic name: use up to 249 letters, digits, '.', '_' or '-'", quote("KAFKA_TOPIC", k.Topic)))
	}
	switch {
	case k.DLQTopic != "" && !isTopic(k.DLQTopic):
		errs = append(errs, fmt.Errorf("KAFKA_DLQ_TOPIC %s is not a Kafka topic name: use up to 249 letters, digits, '.', '_' or '-', or unset it", quote("KAFKA_DLQ_TOPIC", k.DLQTopic)))
	case k.DLQTopic != "" && k.DLQTopic == k.Topic:
		errs = append(errs, errors.New("KAFKA_DLQ_TOPIC is the same as KAFKA_TOPIC, so dead letters would be consumed again: unset it to use <KAFKA_TOPIC>.refersion-dlq"))
	}
	if k.GroupID == "" {
		errs = append(errs, errors.New("KAFKA_GROUP_ID is empty: unset it to use refersion-relay, or set a group name"))
	}
	errs = appendErr(errs, oneOf("KAFKA_START_OFFSET", k.StartOffset, "earliest", "latest"))
	if k.DLQMaxBytes < 16<<10 {
		errs = append(errs, fmt.Errorf("KAFKA_DLQ_MAX_BYTES %d is under 16384: a dead-letter record needs room for its headers; set it just under the topic's max.message.bytes (default 921600)", k.DLQMaxBytes))
	}
	if k.MaxBytes < 512<<10 {
		errs = append(errs, fmt.Errorf("KAFKA_MAX_BYTES is below 524288, so a full Segment batch (500 KB) may not fit: %s", setLike("KAFKA_MAX_BYTES")))
	}
	if k.CommitInterval < 0 {
		errs = append(errs, fmt.Errorf("KAFKA_COMMIT_INTERVAL is negative: %s", setLike("KAFKA_COMMIT_INTERVAL")))
	}
	errs = appendErr(errs, positive("KAFKA_MAX_WAIT", k.MaxWait))
	errs = appendErr(errs, positive("KAFKA_SESSION_TIMEOUT", k.SessionTimeout))
	errs = appendErr(errs, positive("KAFKA_HEARTBEAT_INTERVAL", k.HeartbeatInterval))
	errs = appendErr(errs, positive("KAFKA_REBALANCE_TIMEOUT", k.RebalanceTimeout))
	if k.HeartbeatInterval >= k.SessionTimeout && k.SessionTimeout > 0 {
		errs = append(errs, errors.New("KAFKA_HEARTBEAT_INTERVAL must be shorter than KAFKA_SESSION_TIMEOUT (a third of it is usual): e.g. KAFKA_HEARTBEAT_INTERVAL=3s with KAFKA_SESSION_TIMEOUT=30s"))
	}
	errs = append(errs, k.TLS.check()...)
	return append(errs, k.SASL.check()...)
}

func (t TLS) check() []error {
	var errs []error
	if !t.Enabled {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"KAFKA_TLS_CA_FILE", t.CAFile != ""},
			{"KAFKA_TLS_CERT_FILE", t.CertFile != ""},
			{"KAFKA_TLS_KEY_FILE", t.KeyFile != ""},
			{"KAFKA_TLS_INSECURE_SKIP_VERIFY", t.InsecureSkipVerify},
		} {
			if f.set {
				errs = append(errs, fmt.Errorf("%[1]s is set but KAFKA_TLS_ENABLED is false: set KAFKA_TLS_ENABLED=true, or unset %[1]s", f.name))
			}
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together: set both for mutual TLS, or neither"))
	}
	return errs
}

func (s SASL) check() []error {
	var errs []error
	if err := oneOf("KAFKA_SASL_MECHANISM", s.Mechanism, "none", "plain", "scram-sha-256", "scram-sha-512"); err != nil {
		return append(errs, err)
	}
	password := s.Password.IsSet() || s.PasswordFile != ""
	if s.Mechanism == "none" {
		if s.Username != "" || password {
			errs = append(errs, errors.New("KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set but KAFKA_SASL_MECHANISM is none: set KAFKA_SASL_MECHANISM to plain, scram-sha-256 or scram-sha-512, or unset them"))
		}
		return errs
	}
	if s.Username == "" {
		errs = append(errs, fmt.Errorf("KAFKA_SASL_USERNAME is empty but KAFKA_SASL_MECHANISM is %s: set the SASL user name", s.Mechanism))
	}
	if !password {
		errs = append(errs, fmt.Errorf("KAFKA_SASL_PASSWORD is not set but KAFKA_SASL_MECHANISM is %s: set it, or KAFKA_SASL_PASSWORD_FILE", s.Mechanism))
	}
	return errs
}

// isHostPort reports whether s is host:port with a port in 0–65535; the host
// may be empty (all interfaces) only when needHost is false.
func isHostPort(s string, needHost bool) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || (needHost && host == "") {
		return false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	return err == nil && (p > 0 || !needHost)
}

// isTopic reports whether s is a legal Kafka topic name.
func isTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
}

// oneOf returns an error unless v is one of allowed.
func oneOf(name, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return fmt.Errorf("%s is %s, not one of %s: %s", name, quote(name, v), strings.Join(allowed, ", "), setLike(name))
}

// positive returns an error unless d > 0.
func positive(name string, d time.Duration) error {
	if d > 0 {
		return nil
	}
	return fmt.Errorf("%s must be longer than 0: %s", name, setLike(name))
}

// atLeast returns an error unless n >= lowest.
func atLeast(name string, n, lowest int) error {
	if n >= lowest {
		return nil
	}
	return fmt.Errorf("%s must be at least %d: %s", name, lowest, setLike(name))
}

// setLike is the fix for a bad value: the variable set to its default.
func setLike(name string) string {
	for _, v := range vars() {
		if v.Name == name && v.Default != "" {
			return fmt.Sprintf("set it like %s=%s (the default)", name, v.Default)
		}
	}
	return "correct it"
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}
