package config_test

import (
	"fmt"
	"strings"

	"github.com/refersion-relay/refersion-relay/config"
)

// A Secret prints only whether it is set; Reveal is for the one place that
// sends it.
func ExampleSecret() {
	key := config.NewSecret("sec_5f2b")
	fmt.Println(key)
	fmt.Printf("%q %#v %x\n", key, key, key)
	fmt.Printf("%+v\n", struct{ Key, Unset config.Secret }{Key: key})
	fmt.Println(len(key.Reveal()))
	// Output:
	// ****
	// "****" config.Secret("****") ****
	// {Key:**** Unset:}
	// 8
}

// A URL prints without its password.
func ExampleURL() {
	fmt.Println(config.NewURL("rediss://relay:hunter2@redis-0:6380/1"))
	// Output:
	// rediss://relay:xxxxx@redis-0:6380/1
}

// Markdown is the README's configuration table, one row per variable.
func ExampleMarkdown() {
	rows := strings.Split(config.Markdown(), "\n")[2:6]
	fmt.Println(strings.Join(rows, "\n"))
	// Output:
	// | variable | default | description |
	// |---|---|---|
	// | `KAFKA_BROKERS` |  | Comma list of bootstrap brokers, host:port. |
	// | `KAFKA_TOPIC` |  | Topic of Segment-spec events to consume. |
}
