// Package console prints OpenTelemetry spans and metrics as JSON to a
// writer, so a developer sees gatehouse's telemetry (or any
// instrumentation's) without running a collector:
//
//	p, err := console.New(os.Stdout, console.Options{ServiceName: "acme"})
//	...
//	defer p.Shutdown(context.Background())
//	s, err := stack.New(ctx, stack.Options{TracerProvider: p.TracerProvider, MeterProvider: p.MeterProvider, ...})
//
// It is a module of its own (gatehouse.dev/telemetry/console) so that the
// OpenTelemetry SDK and its stdout exporters stay out of gatehouse.dev,
// which depends on the OpenTelemetry API only. Production exports over
// OTLP: see examples/otlp.
package console
