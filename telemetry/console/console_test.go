package console_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"gatehouse.dev/telemetry/console"
)

// TestPrints: a span and a counter reach the writer, with the service
// name, by Shutdown at the latest.
func TestPrints(t *testing.T) {
	var out bytes.Buffer
	p, err := console.New(&out, console.Options{ServiceName: "console-test"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider.Tracer("test").Start(context.Background(), "unit-of-work")
	span.End()
	c, err := p.MeterProvider.Meter("test").Int64Counter("things")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 3)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Name":"unit-of-work"`, `"Name":"things"`, `"console-test"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}
