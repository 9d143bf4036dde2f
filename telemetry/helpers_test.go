package telemetry_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"gatehouse.dev/telemetry"
)

// sdk is a real OpenTelemetry SDK recording in memory: spans in a
// SpanRecorder, metrics through a manual reader.
type sdk struct {
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

func newSDK(t testing.TB) *sdk {
	t.Helper()
	s := &sdk{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		_ = s.tp.Shutdown(context.Background())
		_ = s.mp.Shutdown(context.Background())
	})
	return s
}

// instruments returns telemetry on the SDK with opts' other fields.
func (s *sdk) instruments(t testing.TB, opts telemetry.Options) *telemetry.Instruments {
	t.Helper()
	opts.TracerProvider, opts.MeterProvider = s.tp, s.mp
	tel, err := telemetry.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return tel
}

// collect reads every metric now.
func (s *sdk) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// ended returns the ended spans named name.
func (s *sdk) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}

// spanAttr returns the value of attribute k of span sp as a string, and
// whether it has it.
func spanAttr(sp sdktrace.ReadOnlySpan, k attribute.Key) (string, bool) {
	for _, kv := range sp.Attributes() {
		if kv.Key == k {
			return kv.Value.Emit(), true
		}
	}
	return "", false
}

// findMetric returns the metric named name, or nil.
func findMetric(rm metricdata.ResourceMetrics, name string) *metricdata.Metrics {
	for _, sm := range rm.ScopeMetrics {
		for i := range sm.Metrics {
			if sm.Metrics[i].Name == name {
				return &sm.Metrics[i]
			}
		}
	}
	return nil
}

// has reports whether set holds every kv of want.
func has(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		v, ok := set.Value(kv.Key)
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// sum adds up the int64 data points (sums or gauges) of metric name whose
// attributes include want. It fails the test when the metric is missing.
func sum(t testing.TB, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	m := findMetric(rm, name)
	if m == nil {
		t.Fatalf("metric %s not exported", name)
	}
	var pts []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		pts = d.DataPoints
	case metricdata.Gauge[int64]:
		pts = d.DataPoints
	default:
		t.Fatalf("metric %s is a %T", name, m.Data)
	}
	var n int64
	for _, p := range pts {
		if has(p.Attributes, want) {
			n += p.Value
		}
	}
	return n
}

// histCount returns the number of measurements of histogram name whose
// attributes include want.
func histCount(t testing.TB, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) uint64 {
	t.Helper()
	m := findMetric(rm, name)
	if m == nil {
		t.Fatalf("metric %s not exported", name)
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("metric %s is a %T", name, m.Data)
	}
	var n uint64
	for _, p := range h.DataPoints {
		if has(p.Attributes, want) {
			n += p.Count
		}
	}
	return n
}

// attrSets returns every attribute set of metric name's data points.
func attrSets(rm metricdata.ResourceMetrics, name string) []attribute.Set {
	m := findMetric(rm, name)
	if m == nil {
		return nil
	}
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}

// exportedText returns everything the SDK would export, as text: span
// names, attributes, events, status descriptions, and every metric's name
// and data point attributes and the resource.
func (s *sdk) exportedText(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	kvs := func(attrs []attribute.KeyValue) {
		for _, kv := range attrs {
			b.WriteString(string(kv.Key) + "=" + kv.Value.Emit() + "\n")
		}
	}
	for _, sp := range s.spans.Ended() {
		b.WriteString(sp.Name() + "\n" + sp.Status().Description + "\n")
		kvs(sp.Attributes())
		for _, ev := range sp.Events() {
			b.WriteString(ev.Name + "\n")
			kvs(ev.Attributes)
		}
	}
	rm := s.collect(t)
	kvs(rm.Resource.Attributes())
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			b.WriteString(m.Name + "\n")
			for _, set := range attrSets(rm, m.Name) {
				kvs(set.ToSlice())
			}
		}
	}
	return b.String()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
