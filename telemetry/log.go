package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev"
)

// Names of the attributes [LogHandler] adds.
const (
	LogRequestID = "request_id"
	LogTraceID   = "trace_id"
	LogSpanID    = "span_id"
)

// LogHandler returns h adding, to every record logged with a context
// (slog's …Context methods, which every gatehouse package uses), the
// request id of gatehouse.RequestID as "request_id" and the current span's
// ids as "trace_id" and "span_id", so that a log line leads to its request
// and its trace. The attributes go into the innermost group open at the
// time, if any; a record that already has a "request_id" there (its own,
// or one given with WithAttrs) keeps it alone. Use it when building the host's logger:
//
//	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
//
// Secrets redact themselves: auth.RawKey is a slog.LogValuer.
func LogHandler(h slog.Handler) slog.Handler {
	return &logHandler{next: h}
}

type logHandler struct {
	next     slog.Handler
	hasReqID bool // WithAttrs added a request_id in the innermost group
}

func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.next.Handle(ctx, r)
	}
	if id := gatehouse.RequestIDFromContext(ctx); id != "" && !h.hasReqID && !hasAttr(r, LogRequestID) {
		r.AddAttrs(slog.String(LogRequestID, id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.hasReqID
	for _, a := range attrs {
		if a.Key == LogRequestID {
			has = true
		}
	}
	return &logHandler{next: h.next.WithAttrs(attrs), hasReqID: has}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	// Later attributes, ours included, go into the new group.
	return &logHandler{next: h.next.WithGroup(name)}
}

// hasAttr reports whether r has a top-level attribute key.
func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			found = true
			return false
		}
		return true
	})
	return found
}
