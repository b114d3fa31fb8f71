//go:build race

package server_test

// raceEnabled: the race detector allows 8,128 live goroutines, fewer than
// TestServerTenThousandIdleConnections needs.
const raceEnabled = true
