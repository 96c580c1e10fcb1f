// Package state keeps Berth's durable records (clusters, task definitions,
// account settings, …) as JSON values in a store.Store, and gives the API
// layer typed reads and optimistic read-modify-write updates with retry on
// revision conflicts. It holds no business rules: those live in
// internal/ecs as pure functions; this package only reads, writes and
// retries.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/berth/berth/internal/store"
)

// maxRetries bounds optimistic-concurrency retries of one update;
// maxRetryWait caps the pause between two of them.
const (
	maxRetries   = 64
	maxRetryWait = 50 * time.Millisecond
)

// ErrTooMuchContention is returned when an update kept conflicting.
var ErrTooMuchContention = errors.New("state: too much contention, giving up")

// Get reads and decodes the record at key. It returns an error wrapping
// store.ErrNotFound when the key is absent.
func Get[T any](ctx context.Context, r store.Reader, key string) (T, int64, error) {
	var v T
	kv, err := r.Get(ctx, key)
	if err != nil {
		return v, 0, err
	}
	if err := json.Unmarshal(kv.Value, &v); err != nil {
		return v, 0, fmt.Errorf("state: decode %s: %w", key, err)
	}
	return v, kv.ModRevision, nil
}

// Record is a decoded record and the revision it was read at.
type Record[T any] struct {
	Key         string
	Value       T
	ModRevision int64
}

// List reads and decodes the records under prefix in key order.
func List[T any](ctx context.Context, r store.Reader, prefix string, opts store.ListOptions) ([]Record[T], error) {
	kvs, _, err := r.List(ctx, prefix, opts)
	if err != nil {
		return nil, err
	}
	out := make([]Record[T], 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("state: decode %s: %w", kv.Key, err)
		}
		out = append(out, Record[T]{Key: kv.Key, Value: v, ModRevision: kv.ModRevision})
	}
	return out, nil
}

// PutOp encodes v as a Put op expecting rev (store.ExpectAbsent, store.ExpectAny
// or a ModRevision).
func PutOp(key string, v any, rev int64) (store.Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return store.Op{}, fmt.Errorf("state: encode %s: %w", key, err)
	}
	return store.Put(key, b, rev), nil
}

// Retry runs attempt until it does not fail with store.ErrConflict, at most
// maxRetries times, sleeping a random, growing while between attempts so
// that writers contending for one record spread out instead of colliding
// again in the next group commit. attempt must re-read everything it
// depends on.
func Retry(ctx context.Context, attempt func() error) error {
	wait := time.Millisecond
	for i := 0; i < maxRetries; i++ {
		err := attempt()
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		t := time.NewTimer(time.Duration(rand.Int64N(int64(wait))) + wait/2)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxRetryWait)
	}
	return ErrTooMuchContention
}

// Update reads the record at key, lets fn change it, and writes it back only
// if nobody wrote it in between, retrying on conflict. fn sees exists=false
// and a zero value when the key is absent; returning an error from fn aborts
// without writing. extra ops (checks on other keys, writes of related keys)
// returned by fn commit in the same transaction.
func Update[T any](ctx context.Context, s ReadWriter, key string, fn func(v *T, exists bool) ([]store.Op, error)) (T, error) {
	var out T
	// Writers of one key on this server take turns, so they do not fail
	// each other's compare-and-swap; writers on other servers (sharing
	// etcd) are still caught by it and retried.
	mu := &keyLocks[fnv32(key)%uint32(len(keyLocks))]
	mu.Lock()
	defer mu.Unlock()
	err := Retry(ctx, func() error {
		v, rev, err := Get[T](ctx, s, key)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		extra, err := fn(&v, exists)
		if err != nil {
			return err
		}
		expect := store.ExpectAbsent
		if exists {
			expect = rev
		}
		op, err := PutOp(key, v, expect)
		if err != nil {
			return err
		}
		if _, err := s.Txn(ctx, append([]store.Op{op}, extra...)...); err != nil {
			return err
		}
		out = v
		return nil
	})
	return out, err
}

// ReadWriter is the part of a store that reads and commits.
type ReadWriter interface {
	store.Reader
	store.Writer
}

// keyLocks serialise Updates of one key within this process (striped: two
// keys may share a lock, which only costs concurrency, as Update never
// nests).
var keyLocks [1024]sync.Mutex

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// Seq formats a sequence number so that keys sort numerically.
func Seq(n int) string {
	s := strconv.Itoa(n)
	const width = 10
	if len(s) >= width {
		return s
	}
	return "0000000000"[:width-len(s)] + s
}
