package idempotency_test

import (
	"strconv"
	"strings"
	"testing"

	"gatehouse.dev/idempotency"
)

// BenchmarkMiddleware measures the middleware's own cost with the memory
// store: a first request (read and hash the body, claim, serve, store) and
// a replay.
func BenchmarkMiddleware(b *testing.B) {
	body := `{"first_name":"Ann","last_name":"Lee","email":"ann@example.com","notes":"` + strings.Repeat("n", 500) + `"}`
	b.Run("first", func(b *testing.B) {
		p := newPlain(b, nil, nil)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			if r := p.send("POST", body, "k-"+strconv.Itoa(i)); r.Code != 201 {
				b.Fatal(r.Code)
			}
		}
	})
	b.Run("replay", func(b *testing.B) {
		p := newPlain(b, nil, nil)
		p.send("POST", body, "same")
		b.ReportAllocs()
		for b.Loop() {
			if r := p.send("POST", body, "same"); r.Header().Get(idempotency.ReplayedHeader) != "true" {
				b.Fatal(r.Code)
			}
		}
	})
	b.Run("no-header", func(b *testing.B) {
		p := newPlain(b, nil, nil)
		b.ReportAllocs()
		for b.Loop() {
			if r := p.send("POST", body); r.Code != 201 {
				b.Fatal(r.Code)
			}
		}
	})
}
