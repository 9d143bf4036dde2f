package console

import (
	"context"
	"errors"
	"io"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultInterval is how often metrics are printed when
// Options.Interval is zero.
const DefaultInterval = 10 * time.Second

// Options configures [New]. The zero value is usable.
type Options struct {
	// ServiceName is the service.name of every span and metric; empty
	// means the SDK's default ("unknown_service:<executable>").
	ServiceName string
	// Interval between two prints of the metrics: default
	// [DefaultInterval].
	Interval time.Duration
}

// Providers print what they receive: spans in batches, metrics every
// Options.Interval. Pass them to the instrumented code (for example
// stack.Options.TracerProvider and MeterProvider) and call
// [Providers.Shutdown] before exiting.
type Providers struct {
	TracerProvider *sdktrace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
}

// New returns providers that write JSON to w.
func New(w io.Writer, o Options) (*Providers, error) {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	te, err := stdouttrace.New(stdouttrace.WithWriter(w))
	if err != nil {
		return nil, err
	}
	me, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
	if err != nil {
		return nil, err
	}
	res := resource.Default()
	if o.ServiceName != "" {
		res = resource.NewSchemaless(attribute.String("service.name", o.ServiceName))
	}
	return &Providers{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithBatcher(te), sdktrace.WithResource(res)),
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(o.Interval)))),
	}, nil
}

// Shutdown prints what the providers still hold and stops them, waiting
// at most 5 s beyond ctx's own deadline.
func (p *Providers) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return errors.Join(p.TracerProvider.Shutdown(ctx), p.MeterProvider.Shutdown(ctx))
}
