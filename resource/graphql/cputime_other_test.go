//go:build !unix

package graphql_test

import "time"

// cpuTime is not measured on this platform.
func cpuTime() time.Duration { return 0 }
