//go:build !nodev

package main

// devCommands are the commands for development and tests. They bring an
// embedded Kafka broker (franz-go's kfake) and a Refersion sandbox into the
// binary; the container image is built with -tags nodev, without them.
func devCommands() []command {
	return []command{
		{"demo", "run broker, sandbox and relay in one process over a generated stream", cmdDemo},
		{"sandbox", "run a local stand-in for Refersion's paid-order webhook", cmdSandbox},
		{"gen", "write a generated storefront event stream (NDJSON) to stdout", cmdGen},
		{"broker", "run an in-process Kafka-protocol broker for development and tests", cmdBroker},
	}
}
