package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"testing/slogtest"

	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev"
	"gatehouse.dev/auth"
	"gatehouse.dev/telemetry"
)

func TestLogHandler(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	ctx := gatehouse.NewRequestContext(context.Background(), "req-1")
	ctx, span := s.tp.Tracer("test").Start(ctx, "request")
	defer span.End()
	sc := span.SpanContext()
	raw, _, err := auth.Generate("joby", auth.EnvLive)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want map[string]any // top-level fields; nil value: absent
	}{
		{"request and span", func(l *slog.Logger) { l.InfoContext(ctx, "hi") },
			map[string]any{"request_id": "req-1", "trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}},
		{"no context values", func(l *slog.Logger) { l.InfoContext(context.Background(), "hi") },
			map[string]any{"request_id": nil, "trace_id": nil}},
		{"without context", func(l *slog.Logger) { l.Info("hi") },
			map[string]any{"request_id": nil, "trace_id": nil}},
		{"own request_id kept", func(l *slog.Logger) { l.InfoContext(ctx, "hi", "request_id", "mine") },
			map[string]any{"request_id": "mine", "trace_id": sc.TraceID().String()}},
		{"WithAttrs request_id kept", func(l *slog.Logger) { l.With("request_id", "set").InfoContext(ctx, "hi") },
			map[string]any{"request_id": "set"}},
		{"raw key redacted", func(l *slog.Logger) { l.InfoContext(ctx, "issued", "key", raw) },
			map[string]any{"key": raw.String(), "request_id": "req-1"}},
		{"span only", func(l *slog.Logger) {
			l.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "hi")
		}, map[string]any{"request_id": nil, "span_id": sc.SpanID().String()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tc.log(slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))))
			if strings.Count(buf.String(), `"request_id"`) > 1 {
				t.Errorf("request_id twice: %s", buf.String())
			}
			if strings.Contains(buf.String(), raw.Reveal()) {
				t.Fatalf("raw key logged: %s", buf.String())
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%s: %v", buf.String(), err)
			}
			for k, v := range tc.want {
				got, ok := rec[k]
				if v == nil && ok {
					t.Errorf("%s = %v, want absent", k, got)
				}
				if v != nil && got != v {
					t.Errorf("%s = %v, want %v", k, got, v)
				}
			}
		})
	}
}

func TestLogHandlerGroups(t *testing.T) {
	t.Parallel()
	ctx := gatehouse.NewRequestContext(context.Background(), "req-2")
	var buf bytes.Buffer
	l := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil)))
	// A request_id outside the group does not stop the one inside it.
	l.With("request_id", "outer").WithGroup("g").InfoContext(ctx, "hi", "a", 1)
	var rec struct {
		RequestID string `json:"request_id"`
		G         struct {
			A         int    `json:"a"`
			RequestID string `json:"request_id"`
		} `json:"g"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.RequestID != "outer" || rec.G.RequestID != "req-2" || rec.G.A != 1 {
		t.Fatalf("got %s", buf.String())
	}
}

// TestLogHandlerSlogtest checks the wrapper against slog's handler rules.
func TestLogHandlerSlogtest(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))
	err := slogtest.TestHandler(h, func() []map[string]any {
		var out []map[string]any
		for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
}
