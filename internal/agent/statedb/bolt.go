package statedb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the database file inside the agent's data directory.
const FileName = "agent.db"

var (
	bucketTasks = []byte("tasks")
	bucketMeta  = []byte("meta")
	keyInstance = []byte("instanceArn")
	keySchema   = []byte("schema")
)

// schemaVersion is written on creation; Open refuses files from a newer
// agent.
const schemaVersion = "1"

// openTimeout bounds the wait for the file lock another agent process holds.
var openTimeout = 2 * time.Second

// Bolt is a DB in a bbolt file. Every write is fsync'd before it returns.
// Concurrent writes are group-committed: while one transaction commits,
// the writes that arrive queue up and go together in the next one, so
// many tasks changing at once cost few fsyncs and a lone write waits for
// none.
type Bolt struct {
	db *bolt.DB

	mu      sync.Mutex
	queue   []*writeReq
	writing bool // a caller is committing the queue
}

// writeReq is one queued write.
type writeReq struct {
	what string
	fn   func(tx *bolt.Tx) error
	done chan error
}

var _ DB = (*Bolt)(nil)

// Open opens (creating it if needed) <dir>/agent.db. Only one process may
// hold it: a second Open fails after a short wait.
func Open(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("statedb: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("statedb: %s is locked by another process (is another agent running?): %w", path, err)
		}
		return nil, fmt.Errorf("statedb: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketTasks); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("schema version %q, this agent reads %q", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("statedb: initialise %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Path is the database file.
func (b *Bolt) Path() string { return b.db.Path() }

// update queues fn and returns once the transaction holding it has
// committed. The first caller to find no commit in progress commits the
// queue, again and again until it is empty. A caller whose ctx ends while
// waiting gets ctx's error; its write may still be committed.
func (b *Bolt) update(ctx context.Context, what string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{what: what, fn: fn, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, req)
	lead := !b.writing
	b.writing = true
	b.mu.Unlock()
	if lead {
		b.commitQueue()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitQueue commits queued writes in batches until the queue is empty.
func (b *Bolt) commitQueue() {
	for {
		b.mu.Lock()
		batch := b.queue
		b.queue = nil
		if len(batch) == 0 {
			b.writing = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.commit(batch)
	}
}

// commit applies a batch in one transaction. If a write fails, the batch
// is rolled back and its writes are retried one transaction each, so that
// one bad write fails only its own caller.
func (b *Bolt) commit(batch []*writeReq) {
	err := b.db.Update(func(tx *bolt.Tx) error {
		for _, r := range batch {
			if err := r.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 && !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		for _, r := range batch {
			b.commit([]*writeReq{r})
		}
		return
	}
	for _, r := range batch {
		switch {
		case err == nil:
			r.done <- nil
		case errors.Is(err, bolt.ErrDatabaseNotOpen):
			r.done <- ErrClosed
		default:
			r.done <- fmt.Errorf("statedb: %s: %w", r.what, err)
		}
	}
}

func (b *Bolt) view(ctx context.Context, what string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.db.View(fn); err != nil {
		if errors.Is(err, bolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		return fmt.Errorf("statedb: %s: %w", what, err)
	}
	return nil
}

// SaveTask implements DB.
func (b *Bolt) SaveTask(ctx context.Context, arn string, record []byte) error {
	if arn == "" {
		return errors.New("statedb: save task: empty ARN")
	}
	return b.update(ctx, "save task "+arn, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).Put([]byte(arn), record)
	})
}

// DeleteTask implements DB.
func (b *Bolt) DeleteTask(ctx context.Context, arn string) error {
	return b.update(ctx, "delete task "+arn, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).Delete([]byte(arn))
	})
}

// LoadTasks implements DB.
func (b *Bolt) LoadTasks(ctx context.Context) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := b.view(ctx, "load tasks", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// InstanceARN implements DB.
func (b *Bolt) InstanceARN(ctx context.Context) (string, error) {
	var arn string
	err := b.view(ctx, "read instance ARN", func(tx *bolt.Tx) error {
		arn = string(tx.Bucket(bucketMeta).Get(keyInstance))
		return nil
	})
	return arn, err
}

// SetInstanceARN implements DB.
func (b *Bolt) SetInstanceARN(ctx context.Context, arn string) error {
	return b.update(ctx, "save instance ARN", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyInstance, []byte(arn))
	})
}

// Close implements DB.
func (b *Bolt) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("statedb: close: %w", err)
	}
	return nil
}
