package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// StartOffsetValue is KAFKA_START_OFFSET as kafka-go's constant.
func (k Kafka) StartOffsetValue() int64 {
	if k.StartOffset == "latest" {
		return kafka.LastOffset
	}
	return kafka.FirstOffset
}

// TLSConfig builds the brokers' TLS settings; nil when TLS is off. It reads
// the CA, certificate and key files, and names the variable of a bad one.
func (k Kafka) TLSConfig() (*tls.Config, error) {
	if !k.TLS.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: k.TLS.InsecureSkipVerify} //nolint:gosec // opt-in, documented as testing only
	if k.TLS.CAFile != "" {
		pem, err := os.ReadFile(k.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("KAFKA_TLS_CA_FILE: no PEM certificate found in the file")
		}
		c.RootCAs = pool
	}
	if k.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(k.TLS.CertFile, k.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CERT_FILE / KAFKA_TLS_KEY_FILE: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// SASLMechanism builds the SASL mechanism; nil when it is none.
func (k Kafka) SASLMechanism() (sasl.Mechanism, error) {
	user, pass := k.SASL.Username, k.SASL.Password.Reveal()
	switch k.SASL.Mechanism {
	case "", "none":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: user, Password: pass}, nil
	case "scram-sha-256":
		m, err := scram.Mechanism(scram.SHA256, user, pass)
		if err != nil {
			return nil, errors.New("KAFKA_SASL_MECHANISM scram-sha-256: cannot set up SCRAM")
		}
		return m, nil
	case "scram-sha-512":
		m, err := scram.Mechanism(scram.SHA512, user, pass)
		if err != nil {
			return nil, errors.New("KAFKA_SASL_MECHANISM scram-sha-512: cannot set up SCRAM")
		}
		return m, nil
	}
	return nil, fmt.Errorf("KAFKA_SASL_MECHANISM %q: use none, plain, scram-sha-256 or scram-sha-512", k.SASL.Mechanism)
}

// Clients returns a Dialer for consumers and a Transport for producers that
// both use the configured TLS and SASL.
func (k Kafka) Clients() (*kafka.Dialer, *kafka.Transport, error) {
	t, err := k.TLSConfig()
	if err != nil {
		return nil, nil, err
	}
	m, err := k.SASLMechanism()
	if err != nil {
		return nil, nil, err
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: t, SASLMechanism: m}
	return d, &kafka.Transport{TLS: t, SASL: m, DialTimeout: 10 * time.Second}, nil
}
