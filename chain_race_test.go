//go:build race

package gatehouse_test

const raceEnabled = true
