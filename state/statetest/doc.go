// Package statetest holds what the state backends' tests share beyond the
// store contracts: a redis-server that tests start for themselves
// (StartRedis), a capture of the process's stderr (CaptureStderr), and
// benchmarks on a generated storefront stream (BenchmarkIdentities,
// BenchmarkSent, Updates). The conformance suites of the contracts are in
// store/storetest; every backend runs them.
package statetest
