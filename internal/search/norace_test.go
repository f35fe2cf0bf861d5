//go:build !race

package search

// raceEnabled: the tests run under the race detector, which slows SQLite's
// (translated) C code several times over.
const raceEnabled = false
