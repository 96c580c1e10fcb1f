package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// DefaultStoppedTaskRetention is how long a stopped task stays
// describable, as in ECS (at least an hour).
const DefaultStoppedTaskRetention = time.Hour

// taskSweepBatch bounds the records one List of the sweeper reads.
const taskSweepBatch = 500

// taskSweepView is the part of a task record the sweeper reads.
type taskSweepView struct {
	LastStatus    string    `json:"lastStatus"`
	DesiredStatus string    `json:"desiredStatus"`
	StoppedAt     time.Time `json:"stoppedAt"`
	CreatedAt     time.Time `json:"createdAt"`
}

// SweepStoppedTasks deletes the records of tasks that have been STOPPED
// for longer than retention at now (a task without a stop time counts from
// its creation), and the RunTask clientToken records that have expired.
// A record changed since it was read is left for the next sweep. It
// returns how many task records it deleted.
func (h *Handler) SweepStoppedTasks(ctx context.Context, now time.Time, retention time.Duration) (int, error) {
	deleted := 0
	after := ""
	for {
		recs, err := state.List[taskSweepView](ctx, h.store, state.AllTasksPrefix(), store.ListOptions{After: after, Limit: taskSweepBatch})
		if err != nil {
			return deleted, fmt.Errorf("sweep stopped tasks: %w", err)
		}
		for _, r := range recs {
			after = r.Key
			t := r.Value
			if t.LastStatus != "STOPPED" || t.DesiredStatus != "STOPPED" {
				continue
			}
			since := t.StoppedAt
			if since.IsZero() {
				since = t.CreatedAt
			}
			if now.Sub(since) <= retention {
				continue
			}
			_, err := h.store.Txn(ctx, store.Delete(r.Key, r.ModRevision))
			switch {
			case err == nil:
				deleted++
			case errors.Is(err, store.ErrConflict):
			default:
				return deleted, fmt.Errorf("sweep stopped tasks: delete %s: %w", r.Key, err)
			}
		}
		if len(recs) < taskSweepBatch {
			break
		}
	}
	return deleted, h.sweepTaskTokens(ctx, now)
}

// sweepTaskTokens deletes expired clientToken records.
func (h *Handler) sweepTaskTokens(ctx context.Context, now time.Time) error {
	after := ""
	for {
		recs, err := state.List[taskTokenRecord](ctx, h.store, taskTokensPrefix, store.ListOptions{After: after, Limit: taskSweepBatch})
		if err != nil {
			return fmt.Errorf("sweep task client tokens: %w", err)
		}
		for _, r := range recs {
			after = r.Key
			if r.Value.live(now) {
				continue
			}
			if _, err := h.store.Txn(ctx, store.Delete(r.Key, r.ModRevision)); err != nil && !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("sweep task client tokens: delete %s: %w", r.Key, err)
			}
		}
		if len(recs) < taskSweepBatch {
			return nil
		}
	}
}

// RunTaskSweeper calls SweepStoppedTasks every interval until ctx is done,
// logging failures; it is what the server runs in the background.
// retention 0 means DefaultStoppedTaskRetention.
func (h *Handler) RunTaskSweeper(ctx context.Context, interval, retention time.Duration) {
	if retention <= 0 {
		retention = DefaultStoppedTaskRetention
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, err := h.SweepStoppedTasks(ctx, h.now(), retention)
		if err != nil && ctx.Err() == nil {
			h.log.Warn("task retention sweep failed", "err", err)
		}
		if n > 0 {
			h.log.Debug("deleted stopped tasks past retention", "tasks", n)
		}
	}
}
