package redislimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"gatehouse.dev/ratelimit"
)

// States of a call in the dispatcher's queue.
const (
	queued int32 = iota
	taken
	abandoned
)

// call is one decision waiting in the dispatcher's queue. Calls are reused
// (see [dispatcher.newCall]) unless their caller left before the answer.
type call struct {
	key   string // the Redis key, "rate:" included
	lim   ratelimit.Limit
	cost  int
	args  *limitArgs
	state atomic.Int32
	done  chan struct{} // one value once res and err hold the answer
	res   reply
	err   error
}

// limitArgs are a limit's script arguments (burst, rate, period in
// seconds), boxed once per limit rather than once per call.
type limitArgs [3]any

// maxLimitArgs bounds the dispatcher's table of boxed limit arguments;
// when full it starts again empty.
const maxLimitArgs = 1024

// dispatcher sends decisions to Redis. With batching, concurrent decisions
// of one limiter are combined without a background goroutine: a caller
// whose decision is queued takes one of maxInflight slots, sends up to
// maxBatch queued decisions (its own and others') in one round trip, hands
// out the answers and frees the slot; callers that find every slot taken
// wait, and one of them sends the next round trip with every decision that
// arrived meanwhile. A lone caller therefore sends its decision at once,
// and under load each round trip carries many.
//
// On a single node (a *redis.Client: standalone or Sentinel) a round trip
// is one EVALSHA of the script over all its keys, so Redis runs the script
// once per round trip rather than once per decision. On a Cluster, a Ring
// or any other client, whose keys may live on different nodes, it is a
// pipeline of one EVALSHA per decision, which the client splits per node.
// A single node that refuses keys of different slots in one script
// (CROSSSLOT, as some proxies do) switches the dispatcher to the pipeline
// for good.
//
// Each caller waits at most timeout (or until its context ends) for its
// answer, queueing included. When the client does not bound I/O by context
// deadlines (go-redis's ContextTimeoutEnabled), the I/O runs on a goroutine
// of its own (one per round trip) so every caller can leave on time;
// otherwise it runs on the goroutine of the caller that sends it.
type dispatcher struct {
	client      redis.UniversalClient
	detach      bool
	batch       bool
	perKey      atomic.Bool // one EVALSHA per key (not a single node)
	maxBatch    int
	timeout     time.Duration
	sem         chan struct{}
	calls       sync.Pool // *call
	timers      sync.Pool // *time.Timer
	mu          sync.Mutex
	queue       []*call
	limits      map[ratelimit.Limit]*limitArgs // guarded by mu
	batchesSent atomic.Uint64
	cmdsSent    atomic.Uint64
}

// errTimeout is the error of a call that got no answer within the timeout.
var errTimeout = fmt.Errorf("redislimit: no answer from Redis in time: %w", context.DeadlineExceeded)

// newCall returns a call for one decision, reused when possible.
func (d *dispatcher) newCall(key string, lim ratelimit.Limit, cost int) *call {
	c, _ := d.calls.Get().(*call)
	if c == nil {
		c = &call{done: make(chan struct{}, 1)}
	}
	c.key, c.lim, c.cost = key, lim, cost
	c.state.Store(queued)
	return c
}

// release returns a call whose answer has been read, for reuse.
func (d *dispatcher) release(c *call) {
	*c = call{done: c.done}
	d.calls.Put(c)
}

// run sends c and waits until it has an answer, the timeout passes or ctx
// ends. On an error c must not be read (or released) any more: it may
// still be written by a round trip in flight.
func (d *dispatcher) run(ctx context.Context, c *call) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !d.batch {
		return d.runOne(ctx, c)
	}
	t, _ := d.timers.Get().(*time.Timer)
	if t == nil {
		t = time.NewTimer(d.timeout)
	} else {
		t.Reset(d.timeout)
	}
	err := d.wait(ctx, c, t.C)
	t.Stop()
	d.timers.Put(t)
	return err
}

// wait queues c and waits for its answer, sending round trips when a slot
// is free, until timeout fires or ctx ends.
func (d *dispatcher) wait(ctx context.Context, c *call, timeout <-chan time.Time) error {
	d.mu.Lock()
	c.args = d.limitArgs(c.lim)
	d.queue = append(d.queue, c)
	d.mu.Unlock()
	for {
		if c.state.Load() != queued {
			select {
			case <-c.done:
				return nil
			case <-timeout:
				return errTimeout
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case <-c.done:
			return nil
		case d.sem <- struct{}{}:
			d.flush(ctx, c)
		case <-timeout:
			c.state.CompareAndSwap(queued, abandoned)
			return errTimeout
		case <-ctx.Done():
			c.state.CompareAndSwap(queued, abandoned)
			return ctx.Err()
		}
	}
}

// limitArgs returns lim's boxed script arguments. Called with d.mu held.
func (d *dispatcher) limitArgs(lim ratelimit.Limit) *limitArgs {
	if a, ok := d.limits[lim]; ok {
		return a
	}
	if d.limits == nil || len(d.limits) >= maxLimitArgs {
		d.limits = make(map[ratelimit.Limit]*limitArgs)
	}
	a := &limitArgs{lim.Burst, lim.Rate, lim.Period.Seconds()}
	d.limits[lim] = a
	return a
}

// runOne sends one decision without batching.
func (d *dispatcher) runOne(ctx context.Context, c *call) error {
	c.args = &limitArgs{c.lim.Burst, c.lim.Rate, c.lim.Period.Seconds()}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	batch := []*call{c}
	if !d.detach {
		d.exec(ctx, batch)
		<-c.done
		return nil
	}
	go d.exec(ctx, batch)
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush sends up to maxBatch queued decisions in one round trip. The
// caller, whose own call is own, holds a slot of d.sem, which flush releases
// when the round trip is done.
func (d *dispatcher) flush(ctx context.Context, own *call) {
	d.mu.Lock()
	n := 0
	var batch []*call
	for n < len(d.queue) && len(batch) < d.maxBatch {
		c := d.queue[n]
		n++
		if c.state.CompareAndSwap(queued, taken) {
			if batch == nil {
				batch = make([]*call, 0, min(len(d.queue), d.maxBatch))
			}
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
	// A round trip serving other callers too must not end with the
	// flushing caller's context, only at the timeout.
	parent := ctx
	if len(batch) > 1 || batch[0] != own {
		parent = context.WithoutCancel(ctx)
	}
	execCtx, cancel := context.WithTimeout(parent, d.timeout)
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

// exec sends batch in one round trip and wakes its callers.
func (d *dispatcher) exec(ctx context.Context, batch []*call) {
	d.batchesSent.Add(1)
	d.cmdsSent.Add(uint64(len(batch)))
	if len(batch) == 1 || !d.perKey.Load() {
		cmd := scriptCmd(ctx, batch, "evalsha", gcraSHA)
		_ = d.client.Process(ctx, cmd)
		if isNoScript(cmd.Err()) {
			cmd = scriptCmd(ctx, batch, "eval", gcraScript)
			_ = d.client.Process(ctx, cmd)
		}
		if len(batch) > 1 && redis.HasErrorPrefix(cmd.Err(), "CROSSSLOT") {
			d.perKey.Store(true)
			d.execPerKey(ctx, batch)
		} else {
			deliver(batch, cmd)
		}
	} else {
		d.execPerKey(ctx, batch)
	}
	for _, c := range batch {
		c.done <- struct{}{}
	}
}

// execPerKey sends batch as a pipeline of one script call per decision.
func (d *dispatcher) execPerKey(ctx context.Context, batch []*call) {
	cmds := make([]*redis.IntSliceCmd, len(batch))
	send := func(name, payload string) {
		pipe := d.client.Pipeline()
		n := 0
		for i := range batch {
			if cmds[i] != nil && !isNoScript(cmds[i].Err()) {
				continue
			}
			cmds[i] = scriptCmd(ctx, batch[i:i+1], name, payload)
			_ = pipe.Process(ctx, cmds[i])
			n++
		}
		if n > 0 {
			_, _ = pipe.Exec(ctx)
		}
	}
	send("evalsha", gcraSHA)
	for _, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			send("eval", gcraScript)
			break
		}
	}
	for i := range batch {
		deliver(batch[i:i+1], cmds[i])
	}
}

// isNoScript reports whether err says the script is not cached on the node.
func isNoScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }

// scriptCmd returns the script call deciding batch: EVALSHA sha (or EVAL
// script) with the batch's keys and four arguments per key.
func scriptCmd(ctx context.Context, batch []*call, name, payload string) *redis.IntSliceCmd {
	args := make([]any, 3+5*len(batch))
	args[0], args[1], args[2] = name, payload, len(batch)
	keys, argv := args[3:3+len(batch)], args[3+len(batch):]
	for i, c := range batch {
		keys[i] = c.key
		a := argv[4*i : 4*i+4]
		a[0], a[1], a[2], a[3] = c.args[0], c.args[1], c.args[2], c.cost
	}
	cmd := redis.NewIntSliceCmd(ctx, args...)
	cmd.SetFirstKeyPos(3)
	return cmd
}

// deliver hands cmd's answers (four integers per call, in order) to batch.
func deliver(batch []*call, cmd *redis.IntSliceCmd) {
	vals, err := cmd.Result()
	if err == nil && len(vals) != 4*len(batch) {
		err = errBadReply
	}
	for i, c := range batch {
		if err != nil {
			c.err = err
			continue
		}
		c.res, c.err = parseReply(vals[4*i:4*i+4], c.cost)
	}
}
