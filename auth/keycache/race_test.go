//go:build race

package keycache_test

const raceEnabled = true
