//go:build nodev

package main

// devCommands is empty in a build with -tags nodev (the container image):
// demo, sandbox, gen and broker are left out, and with them the embedded
// Kafka broker.
func devCommands() []command { return nil }
