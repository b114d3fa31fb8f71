//go:build race

package record

// raceEnabled: sync.Pool drops items at random under the race detector.
const raceEnabled = true
