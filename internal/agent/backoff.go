package agent

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// backoff is an exponential backoff with jitter, as the real ECS agent
// uses: each Next is the previous delay times multiple, capped at max,
// with ±jitter (a fraction) applied to the value handed out.
type backoff struct {
	min, max time.Duration
	multiple float64
	jitter   float64

	mu  sync.Mutex
	cur time.Duration
}

func newBackoff(min, max time.Duration, multiple, jitter float64) *backoff {
	return &backoff{min: min, max: max, multiple: multiple, jitter: jitter, cur: min}
}

// Next returns the delay to wait now and grows the next one.
func (b *backoff) Next() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.cur
	next := time.Duration(float64(b.cur) * b.multiple)
	if next > b.max || next <= 0 {
		next = b.max
	}
	b.cur = next
	if b.jitter > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * b.jitter * float64(d))
	}
	if d < 0 {
		d = 0
	}
	return d
}

// Reset starts again from min.
func (b *backoff) Reset() {
	b.mu.Lock()
	b.cur = b.min
	b.mu.Unlock()
}

// sleep waits d or until ctx ends; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jittered returns base plus a random duration in [0, jitter).
func jittered(base, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return base
	}
	return base + rand.N(jitter)
}
