package telemetry

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// RedisHook returns a go-redis hook that makes a client span per command
// and per pipeline; add it to the clients gatehouse uses (the Redis
// limiter's, the audit log's, the key cache feed's) with
// client.AddHook(tel.RedisHook()).
//
// A command's span is named after the command ("EVALSHA") and carries
// db.system.name=redis and db.operation.name; a pipeline's is named
// "PIPELINE" or "MULTI" (a transaction), followed by the command when all
// its commands are the same ("PIPELINE EVALSHA"), and carries
// db.operation.batch.size. Arguments (keys and values) are never recorded;
// a redis.Nil reply is not an error. Connections are not traced.
func (t *Instruments) RedisHook() redis.Hook {
	return redisHook{t: t, start: append(t.spanClient[:len(t.spanClient):len(t.spanClient)],
		trace.WithAttributes(semconv.DBSystemNameRedis))}
}

type redisHook struct {
	t     *Instruments
	start []trace.SpanStartOption
}

var _ redis.Hook = redisHook{}

// DialHook returns next: connections are not traced.
func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook traces one command.
func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !h.t.tracing() {
			return next(ctx, cmd)
		}
		ctx, span := h.t.tracer.Start(ctx, "redis", h.start...)
		err := next(ctx, cmd)
		if span.IsRecording() {
			op := strings.ToUpper(cmd.Name())
			span.SetName(op)
			span.SetAttributes(semconv.DBOperationName(op))
			if err != nil && !errors.Is(err, redis.Nil) {
				spanError(span, err)
			}
		}
		span.End()
		return err
	}
}

// ProcessPipelineHook traces one pipeline or transaction.
func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.t.tracing() {
			return next(ctx, cmds)
		}
		ctx, span := h.t.tracer.Start(ctx, "PIPELINE", h.start...)
		err := next(ctx, cmds)
		if span.IsRecording() {
			op, n := pipelineName(cmds)
			span.SetName(op)
			span.SetAttributes(semconv.DBOperationName(op))
			if n >= 2 {
				span.SetAttributes(semconv.DBOperationBatchSize(n))
			}
			if err == nil {
				for _, c := range cmds {
					if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
						err = e
						break
					}
				}
			}
			if err != nil && !errors.Is(err, redis.Nil) {
				spanError(span, err)
			}
		}
		span.End()
		return err
	}
}

// pipelineName returns the operation name of a pipeline and the number of
// commands in it, without the MULTI and EXEC that wrap a transaction.
func pipelineName(cmds []redis.Cmder) (string, int) {
	kind := "PIPELINE"
	var same string
	n := 0
	for i, c := range cmds {
		name := c.Name()
		if name == "multi" && i == 0 {
			kind = "MULTI"
			continue
		}
		if name == "exec" && kind == "MULTI" && i == len(cmds)-1 {
			continue
		}
		switch {
		case n == 0:
			same = name
		case same != name:
			same = ""
		}
		n++
	}
	if same != "" {
		return kind + " " + strings.ToUpper(same), n
	}
	return kind, n
}
