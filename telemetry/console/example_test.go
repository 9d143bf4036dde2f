package console_test

import (
	"context"
	"fmt"
	"io"

	"gatehouse.dev/telemetry/console"
)

// Printing spans and metrics while developing; here to io.Discard.
func Example() {
	p, err := console.New(io.Discard, console.Options{ServiceName: "acme"})
	if err != nil {
		panic(err)
	}
	defer func() { _ = p.Shutdown(context.Background()) }()
	_, span := p.TracerProvider.Tracer("acme").Start(context.Background(), "work")
	span.End()
	fmt.Println("printing")
	// Output: printing
}
