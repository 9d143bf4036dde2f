package telemetry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/telemetry"
)

func TestRedisHook(t *testing.T) {
	t.Parallel()
	s := newSDK(t)
	tel := s.instruments(t, telemetry.Options{})
	client := dbtest.Redis(t)
	client.AddHook(tel.RedisHook())
	prefix := dbtest.Prefix(t)
	ctx, parent := s.tp.Tracer("test").Start(context.Background(), "request")
	const secret = "value-never-recorded"

	if err := client.Set(ctx, prefix+"a", secret, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.Get(ctx, prefix+"missing").Err(); err != redis.Nil {
		t.Fatalf("GET missing: %v", err)
	}
	if _, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, prefix+"a")
		p.Get(ctx, prefix+"missing")
		return nil
	}); err != redis.Nil {
		t.Fatalf("pipeline: %v", err)
	}
	if _, err := client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, prefix+"n")
		p.Expire(ctx, prefix+"n", time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := client.Do(ctx, "NOSUCHCOMMAND").Err(); err == nil {
		t.Fatal("unknown command succeeded")
	}
	if err := client.Del(ctx, prefix+"a", prefix+"n").Err(); err != nil {
		t.Fatal(err)
	}
	parent.End()

	type want struct {
		op     string
		batch  string
		failed bool
	}
	var got []want
	for _, sp := range s.spans.Ended() {
		if sp.Name() == "request" {
			continue
		}
		if sys, _ := spanAttr(sp, semconv.DBSystemNameKey); sys != "redis" {
			t.Errorf("span %s: db.system.name %q", sp.Name(), sys)
		}
		if sp.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %s: kind %v", sp.Name(), sp.SpanKind())
		}
		if sp.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not a child of the request", sp.Name())
		}
		op, _ := spanAttr(sp, semconv.DBOperationNameKey)
		if op != sp.Name() {
			t.Errorf("span %s: db.operation.name %q", sp.Name(), op)
		}
		batch, _ := spanAttr(sp, semconv.DBOperationBatchSizeKey)
		got = append(got, want{op, batch, sp.Status().Code == codes.Error})
	}
	// The client's connection handshake (HELLO, CLIENT SETINFO) runs
	// below the hooks and is not traced.
	expected := []want{
		{"SET", "", false},
		{"GET", "", false}, // redis.Nil is a reply, not an error
		{"PIPELINE GET", "2", false},
		{"MULTI", "2", false}, // INCR and EXPIRE
		{"NOSUCHCOMMAND", "", true},
		{"DEL", "", false},
	}
	if len(got) != len(expected) {
		t.Fatalf("spans %v, want %v", got, expected)
	}
	for i := range got {
		if got[i] != expected[i] {
			t.Errorf("span %d: %v, want %v", i, got[i], expected[i])
		}
	}
	if text := s.exportedText(t); strings.Contains(text, secret) || strings.Contains(text, prefix) {
		t.Errorf("a Redis key or value was exported:\n%s", text)
	}
}
