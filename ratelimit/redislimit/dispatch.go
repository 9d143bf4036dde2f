package redislimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// errBadReply is the error of a script reply that does not have the shape
// redis_rate expects; it stands in for the reply so nothing panics on it.
var errBadReply = errors.New("redislimit: unexpected reply from the rate-limit script")

// States of a call in the dispatcher's queue.
const (
	queued int32 = iota
	taken
	abandoned
)

// call is one command waiting in the dispatcher's queue.
type call struct {
	cmd   *redis.Cmd
	state atomic.Int32
	done  chan struct{} // closed once cmd holds its result
}

// dispatcher sends commands to Redis. With batching, concurrent commands of
// one limiter are combined into pipelines without a background goroutine:
// a caller whose command is queued takes one of maxInflight slots, sends up
// to maxBatch queued commands (its own and others') as one pipeline, hands
// out the results and frees the slot; callers that find every slot taken
// wait, and one of them sends the next pipeline. A lone caller therefore
// sends its command at once, and under load each round trip carries many.
//
// When the client does not bound I/O by context deadlines (go-redis's
// ContextTimeoutEnabled), the I/O runs on a goroutine of its own (one per
// pipeline, or per command without batching) so every caller can leave at
// its deadline; otherwise it runs on the caller's goroutine.
type dispatcher struct {
	client      redis.UniversalClient
	detach      bool
	batch       bool
	maxBatch    int
	timeout     time.Duration
	sem         chan struct{}
	mu          sync.Mutex
	queue       []*call
	batchesSent atomic.Uint64
	cmdsSent    atomic.Uint64
}

// run sends cmd and waits until it has a result or ctx ends. On ctx's end
// it returns ctx's error and cmd must not be read any more (it may still be
// written by a pipeline in flight).
func (d *dispatcher) run(ctx context.Context, cmd *redis.Cmd) error {
	if !d.batch {
		return d.runOne(ctx, cmd)
	}
	c := &call{cmd: cmd, done: make(chan struct{})}
	d.mu.Lock()
	d.queue = append(d.queue, c)
	d.mu.Unlock()
	for {
		if c.state.Load() != queued {
			select {
			case <-c.done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case <-c.done:
			return nil
		case d.sem <- struct{}{}:
			d.flush(ctx, c)
		case <-ctx.Done():
			c.state.CompareAndSwap(queued, abandoned)
			return ctx.Err()
		}
	}
}

// runOne sends one command without batching.
func (d *dispatcher) runOne(ctx context.Context, cmd *redis.Cmd) error {
	d.batchesSent.Add(1)
	d.cmdsSent.Add(1)
	if !d.detach {
		_ = d.client.Process(ctx, cmd)
		return nil
	}
	done := make(chan struct{})
	go func() {
		_ = d.client.Process(ctx, cmd)
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush sends up to maxBatch queued commands as one pipeline. The caller,
// whose own call is own, holds a slot of d.sem, which flush releases when
// the pipeline is done.
func (d *dispatcher) flush(ctx context.Context, own *call) {
	d.mu.Lock()
	n := 0
	var batch []*call
	for n < len(d.queue) && len(batch) < d.maxBatch {
		c := d.queue[n]
		n++
		if c.state.CompareAndSwap(queued, taken) {
			batch = append(batch, c)
		}
	}
	rest := copy(d.queue, d.queue[n:])
	clear(d.queue[rest:])
	d.queue = d.queue[:rest]
	d.mu.Unlock()
	if len(batch) == 0 {
		<-d.sem
		return
	}
	// A pipeline serving other callers too must not end with the flushing
	// caller's context, only with its own deadline.
	execCtx, cancel := ctx, context.CancelFunc(func() {})
	if len(batch) > 1 || batch[0] != own {
		execCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), d.timeout)
	}
	if d.detach {
		go func() {
			d.exec(execCtx, batch)
			cancel()
			<-d.sem
		}()
		return
	}
	d.exec(execCtx, batch)
	cancel()
	<-d.sem
}

// exec sends batch and wakes its callers.
func (d *dispatcher) exec(ctx context.Context, batch []*call) {
	d.batchesSent.Add(1)
	d.cmdsSent.Add(uint64(len(batch)))
	if len(batch) == 1 {
		_ = d.client.Process(ctx, batch[0].cmd)
	} else {
		pipe := d.client.Pipeline()
		for _, c := range batch {
			_ = pipe.Process(ctx, c.cmd)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			// Exec sets each command's error; make sure none is left
			// without a result.
			for _, c := range batch {
				if c.cmd.Err() == nil && c.cmd.Val() == nil {
					c.cmd.SetErr(err)
				}
			}
		}
	}
	for _, c := range batch {
		close(c.done)
	}
}

// scripter is the client redis_rate runs its script through: EVAL and
// EVALSHA go through the dispatcher and their replies are checked, so a
// reply of the wrong shape becomes an error instead of a panic in
// redis_rate's type assertions. Other commands go to the client.
type scripter struct {
	d      *dispatcher
	client redis.UniversalClient
}

func (s scripter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return s.script(ctx, "eval", script, keys, args)
}

func (s scripter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return s.script(ctx, "evalsha", sha1, keys, args)
}

func (s scripter) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return s.script(ctx, "eval_ro", script, keys, args)
}

func (s scripter) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return s.script(ctx, "evalsha_ro", sha1, keys, args)
}

func (s scripter) ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd {
	return s.client.ScriptExists(ctx, hashes...)
}

func (s scripter) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	return s.client.ScriptLoad(ctx, script)
}

func (s scripter) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return s.client.Del(ctx, keys...)
}

func (s scripter) script(ctx context.Context, name, payload string, keys []string, args []any) *redis.Cmd {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, name, payload, len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(ctx, cmdArgs...)
	if len(keys) > 0 {
		cmd.SetFirstKeyPos(3)
	}
	if err := s.d.run(ctx, cmd); err != nil {
		// cmd may still be written by a pipeline in flight: answer with
		// a command of our own.
		failed := redis.NewCmd(ctx, cmdArgs...)
		failed.SetErr(err)
		return failed
	}
	if cmd.Err() == nil && !validReply(cmd.Val()) {
		cmd.SetErr(errBadReply)
	}
	return cmd
}

// validReply reports whether v has the shape of the redis_rate script's
// reply: {allowed int, remaining int, retry_after string, reset_after string}.
func validReply(v any) bool {
	vs, ok := v.([]any)
	if !ok || len(vs) != 4 {
		return false
	}
	_, ok0 := vs[0].(int64)
	_, ok1 := vs[1].(int64)
	_, ok2 := vs[2].(string)
	_, ok3 := vs[3].(string)
	return ok0 && ok1 && ok2 && ok3
}
