package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [RecorderOptions].
const (
	DefaultBatchSize     = 128
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultBuffer        = 8192
	DefaultWriteTimeout  = 2 * time.Second
	DefaultCloseTimeout  = 5 * time.Second
	// DefaultMaxAttempts is how often a failing batch is tried before it is
	// dropped.
	DefaultMaxAttempts = 3
)

// errorLogInterval is how often a burst of write errors that does not end is
// logged again.
const errorLogInterval = time.Minute

// RecorderOptions configures [NewRecorder].
type RecorderOptions struct {
	// Writer stores the batches: a SQL or Redis backend, or a [*Memory].
	// Required.
	Writer Writer
	// BatchSize is the most entries per Write. Zero means
	// [DefaultBatchSize].
	BatchSize int
	// FlushInterval is the longest an entry waits for a batch to fill
	// before it is written anyway. Zero means [DefaultFlushInterval]; reads
	// then lag the requests by up to about FlushInterval plus one write.
	FlushInterval time.Duration
	// Buffer bounds the entries pending between Record and Write; when it is
	// full the oldest pending entry is dropped (and counted) for the new one.
	// Zero means [DefaultBuffer].
	Buffer int
	// WriteTimeout bounds each Write. Zero means [DefaultWriteTimeout].
	WriteTimeout time.Duration
	// CloseTimeout bounds the final flush when Run's context ends. Zero
	// means [DefaultCloseTimeout].
	CloseTimeout time.Duration
	// MaxAttempts is how many times a batch is written before it is dropped
	// (and counted) as failed; attempts are FlushInterval apart, doubling.
	// Zero means [DefaultMaxAttempts].
	MaxAttempts int
	// Logger receives one warning when writes start failing (and once a
	// minute while they keep failing) and one message when they recover.
	// Nil means slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now; it paces the error log.
	Now func() time.Time
}

// Stats is a snapshot of a [Recorder]'s counters.
type Stats struct {
	// Written counts entries the Writer accepted.
	Written uint64
	// Dropped counts entries discarded: pushed out of a full buffer,
	// recorded after Close, or in a batch that failed MaxAttempts times.
	Dropped uint64
	// Errors counts failed Write calls.
	Errors uint64
	// Queued is the number of entries pending now.
	Queued int
}

// Recorder is the asynchronous, bounded, batching [Sink] shared by all
// requests: Record copies the entry into a fixed ring buffer and returns (it
// never blocks on I/O and never allocates); Run writes the buffer to the
// Writer in batches of up to BatchSize, at least every FlushInterval. When
// the buffer is full the oldest pending entry is dropped, so delivery is at
// most once under overload, with every drop counted in [Recorder.Stats].
//
// The constructor starts nothing: the host runs [Recorder.Run] (for example
// in an errgroup) and stops it by cancelling its context, or calls
// [Recorder.Close]; either way what is pending is flushed within a deadline.
type Recorder struct {
	w            Writer
	batchSize    int
	interval     time.Duration
	writeTimeout time.Duration
	closeTimeout time.Duration
	maxAttempts  int
	log          *slog.Logger
	now          func() time.Time

	mu     sync.Mutex
	buf    []Entry
	head   uint64 // sequence number of the oldest pending entry
	tail   uint64 // sequence number of the next entry
	closed bool

	written atomic.Uint64
	dropped atomic.Uint64
	errs    atomic.Uint64

	kick    chan struct{} // a full batch is pending
	stop    chan struct{} // closed by Close
	stopped sync.Once
	runMu   sync.Mutex // held by Run
	runDone chan struct{}

	// flushMu serializes flushes (Run's and Close's) and guards the fields
	// below.
	flushMu    sync.Mutex
	batch      []Entry
	attempts   int
	failing    bool
	burstErrs  uint64
	lastLogged time.Time
}

var _ Sink = (*Recorder)(nil)

// NewRecorder returns a Recorder writing to opts.Writer, or an error when
// Writer is missing or a number is negative.
func NewRecorder(opts RecorderOptions) (*Recorder, error) {
	if opts.Writer == nil {
		return nil, errors.New("audit: RecorderOptions.Writer is required")
	}
	if opts.BatchSize < 0 || opts.FlushInterval < 0 || opts.Buffer < 0 || opts.WriteTimeout < 0 ||
		opts.CloseTimeout < 0 || opts.MaxAttempts < 0 {
		return nil, errors.New("audit: RecorderOptions values must not be negative")
	}
	r := &Recorder{
		w:            opts.Writer,
		batchSize:    cmpOr(opts.BatchSize, DefaultBatchSize),
		interval:     cmpOr(opts.FlushInterval, DefaultFlushInterval),
		writeTimeout: cmpOr(opts.WriteTimeout, DefaultWriteTimeout),
		closeTimeout: cmpOr(opts.CloseTimeout, DefaultCloseTimeout),
		maxAttempts:  cmpOr(opts.MaxAttempts, DefaultMaxAttempts),
		log:          opts.Logger,
		now:          opts.Now,
		kick:         make(chan struct{}, 1),
		stop:         make(chan struct{}),
	}
	r.buf = make([]Entry, cmpOr(opts.Buffer, DefaultBuffer))
	if r.batchSize > len(r.buf) {
		r.batchSize = len(r.buf)
	}
	r.batch = make([]Entry, 0, r.batchSize)
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Record queues e for writing. It never blocks on the backend: when the
// buffer is full the oldest pending entry is dropped and counted; after
// Close, e itself is dropped and counted.
func (r *Recorder) Record(e Entry) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.dropped.Add(1)
		return
	}
	size := uint64(len(r.buf))
	if r.tail-r.head == size {
		r.buf[r.head%size] = Entry{}
		r.head++
		r.dropped.Add(1)
	}
	r.buf[r.tail%size] = e
	r.tail++
	full := r.tail-r.head >= uint64(r.batchSize)
	r.mu.Unlock()
	if full {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// Stats returns a snapshot of the counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	q := int(r.tail - r.head)
	r.mu.Unlock()
	return Stats{Written: r.written.Load(), Dropped: r.dropped.Load(), Errors: r.errs.Load(), Queued: q}
}

// Run writes pending entries until ctx ends or Close is called, then
// flushes what is pending within CloseTimeout and returns. It returns nil
// when everything was flushed or Close was called before Run
// started (Close flushed then), and an error naming how many entries were
// left otherwise. Only one Run may be active at a time.
func (r *Recorder) Run(ctx context.Context) error {
	if !r.runMu.TryLock() {
		return errors.New("audit: Recorder.Run is already running")
	}
	defer r.runMu.Unlock()
	select {
	case <-r.stop:
		return nil
	default:
	}
	done := make(chan struct{})
	r.mu.Lock()
	r.runDone = done
	r.mu.Unlock()
	defer close(done)

	timer := time.NewTimer(r.interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.closeTimeout)
			defer cancel()
			return r.drain(fctx)
		case <-r.stop:
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.closeTimeout)
			defer cancel()
			return r.drain(fctx)
		case <-r.kick:
			// Write full batches; a partial rest waits for the timer. While
			// a batch is failing, retries wait for the timer's backoff.
			if r.retrying() {
				continue
			}
			for r.pending() >= r.batchSize {
				if !r.flush(ctx) {
					timer.Reset(r.backoff())
					break
				}
			}
		case <-timer.C:
			for r.pending() > 0 {
				if !r.flush(ctx) {
					break
				}
			}
			timer.Reset(r.backoff())
		}
	}
}

// Close stops Record from queueing, then flushes what is pending: through
// Run when it is running (waiting for it to return or for ctx to end), or
// directly otherwise. It returns an error if entries were left unwritten.
// Close is idempotent.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	done := r.runDone
	r.mu.Unlock()
	r.stopped.Do(func() { close(r.stop) })
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("audit: close: %w", ctx.Err())
		}
	}
	return r.drain(ctx)
}

func (r *Recorder) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.tail - r.head)
}

// drain flushes until nothing is pending or ctx ends, ignoring backoff.
func (r *Recorder) drain(ctx context.Context) error {
	for {
		n := r.pending()
		if n == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("audit: %d entries not written: %w", n, ctx.Err())
		}
		r.flush(ctx)
	}
}

// retrying reports whether the oldest batch failed and awaits its retry.
func (r *Recorder) retrying() bool {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	return r.attempts > 0
}

// backoff is the wait before the next timed flush: FlushInterval, doubled
// for each failed attempt of the current batch.
func (r *Recorder) backoff() time.Duration {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	d := r.interval
	for i := 0; i < r.attempts && d < time.Minute; i++ {
		d *= 2
	}
	return d
}

// flush writes the oldest pending entries (at most BatchSize) once and
// reports whether it succeeded. The entries stay pending while the write is
// in flight, so a full buffer still drops the oldest; on success they are
// released, on failure they are kept for the next attempt unless this was
// the last one.
func (r *Recorder) flush(ctx context.Context) bool {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()

	r.mu.Lock()
	start := r.head
	n := min(int(r.tail-r.head), r.batchSize)
	size := uint64(len(r.buf))
	batch := r.batch[:0]
	for i := 0; i < n; i++ {
		batch = append(batch, r.buf[(start+uint64(i))%size])
	}
	r.mu.Unlock()
	if n == 0 {
		return true
	}

	wctx, cancel := context.WithTimeout(ctx, r.writeTimeout)
	err := r.w.Write(wctx, batch)
	cancel()
	clear(batch)

	if err == nil {
		r.release(start, n, true)
		r.attempts = 0
		if r.failing {
			r.failing = false
			r.log.LogAttrs(ctx, slog.LevelInfo, "audit: writes recovered",
				slog.Uint64("failed_writes", r.burstErrs), slog.Uint64("dropped_total", r.dropped.Load()))
		}
		return true
	}

	r.errs.Add(1)
	r.attempts++
	now := r.now()
	if !r.failing || now.Sub(r.lastLogged) >= errorLogInterval {
		if !r.failing {
			r.burstErrs = 0
		}
		r.failing = true
		r.lastLogged = now
		r.log.LogAttrs(ctx, slog.LevelWarn, "audit: write failed; entries are kept and retried, then dropped",
			slog.String("error", err.Error()), slog.Int("batch", n),
			slog.Uint64("dropped_total", r.dropped.Load()), slog.Uint64("errors_total", r.errs.Load()))
	}
	r.burstErrs++
	if r.attempts >= r.maxAttempts {
		r.release(start, n, false)
		r.attempts = 0
	}
	return false
}

// release removes the entries with sequence numbers [start, start+n) from
// the buffer, as written or as dropped. Those a full buffer pushed out
// meanwhile were counted as dropped then; written ones are moved to Written.
func (r *Recorder) release(start uint64, n int, written bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := start + uint64(n)
	pushed := uint64(0) // entries of the batch already dropped by Record
	if r.head > start {
		pushed = min(r.head, end) - start
	}
	size := uint64(len(r.buf))
	for s := max(r.head, start); s < end; s++ {
		r.buf[s%size] = Entry{}
	}
	if r.head < end {
		r.head = end
	}
	if written {
		r.written.Add(uint64(n))
		if pushed > 0 {
			r.dropped.Add(^(pushed - 1)) // they were written after all
		}
	} else {
		r.dropped.Add(uint64(n) - pushed)
	}
}
