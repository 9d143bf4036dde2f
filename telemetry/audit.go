package telemetry

import (
	"context"

	"gatehouse.dev/audit"
)

// AuditWriter returns w with a span per written batch:
// "gatehouse.audit.write" with the batch's entry count
// (gatehouse.audit.entries) and the error, if any. Put it between the
// audit.Recorder and its backend, so that each flush (one SQL transaction
// or one Redis pipeline) is one span, a root span since flushes run off the
// request path:
//
//	audit.NewRecorder(audit.RecorderOptions{Writer: tel.AuditWriter(store)})
//
// Entries themselves (paths, IPs, user agents) never go on the span. The
// entries written, dropped and the write errors are counted by the
// Recorder; export them with [Instruments.ObserveAudit].
func (t *Instruments) AuditWriter(w audit.Writer) audit.Writer {
	return &auditWriter{t: t, next: w}
}

type auditWriter struct {
	t    *Instruments
	next audit.Writer
}

func (w *auditWriter) Write(ctx context.Context, entries []audit.Entry) error {
	if !w.t.tracing() {
		return w.next.Write(ctx, entries)
	}
	ctx, span := w.t.tracer.Start(ctx, "gatehouse.audit.write", w.t.spanInternal...)
	err := w.next.Write(ctx, entries)
	if span.IsRecording() {
		span.SetAttributes(AttrAuditEntries.Int(len(entries)))
		if err != nil {
			spanError(span, err)
		}
	}
	span.End()
	return err
}
