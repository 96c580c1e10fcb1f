// Package embedded is Berth's default store backend: a single bbolt file on
// local disk, for one server.
//
// Layout. The file holds three buckets: "kv" maps each key to its record
// (CreateRevision, ModRevision, value); "log" maps each revision (8-byte
// big-endian) to the events of the transaction that made it, so that Watch
// can replay history; "meta" holds the current revision, the compacted
// revision (the newest revision dropped from the log) and a format version.
//
// Durability. Every Txn that returns success has been committed by bbolt
// with fsync: it survives a crash or kill -9 of the process. Concurrent
// Txns are group-committed: one goroutine takes every transaction queued
// while the previous commit was syncing, applies them one after another in
// a single bbolt transaction (each still gets its own revision, and a
// transaction whose expectation fails is skipped without affecting the
// others) and syncs once. Once handed to the committer, a Txn waits for the
// outcome even if its ctx ends (a commit takes one fsync), so its result is
// never ambiguous: a Txn that returns an error wrote nothing.
//
// History. The log keeps the last Options.History revisions (10,000 by
// default); Watch from an older revision fails with store.ErrCompacted.
//
// Watchers. Live events fan out from memory. Each watcher has a queue of
// Options.WatchBuffer transactions; a watcher that falls further behind
// (because its reader is slow) is dropped rather than allowed to stall
// writers: it still gets the events queued so far, then its channel closes
// although its ctx is not done. It must then watch again from the revision
// after the last event it received, and handle ErrCompacted by re-listing.
// Event values are shared between watchers and must not be modified.
package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/berth/berth/internal/store"
)

// Defaults for Options.
const (
	DefaultHistory     = 10000
	DefaultWatchBuffer = 1024
	DefaultOpenTimeout = 10 * time.Second
)

// Group-commit bounds: one bbolt transaction takes at most this many store
// transactions, or this many bytes of values.
const (
	maxBatchTxns  = 256
	maxBatchBytes = 16 << 20
)

// Options tune a Store. The zero value gives the defaults.
type Options struct {
	// History is how many of the most recent revisions Watch can replay.
	History int
	// WatchBuffer is how many transactions may wait in a watcher's queue
	// before the watcher is dropped (see the package doc).
	WatchBuffer int
	// OpenTimeout bounds the wait for the file lock when another process
	// has the file open.
	OpenTimeout time.Duration
	// Logger gets warnings such as dropped watchers; nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = DefaultWatchBuffer
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = DefaultOpenTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is a store.Store on a bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger
	hub  hub

	// mu guards closed, sends on reqs and watchers.Add; Close takes it
	// exclusively, so once closed is set nothing new starts.
	mu       sync.RWMutex
	closed   bool
	reqs     chan *txnReq
	closing  chan struct{} // closed when Close begins
	done     chan struct{} // closed when the committer has drained reqs
	watchers sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store file at path.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        opts.OpenTimeout,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, fmt.Errorf("store/embedded: open %s: %w", path, err)
	}
	var rev int64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketKV, bucketLog, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(metaVersion); {
		case v == nil:
			if err := meta.Put(metaVersion, []byte{formatVersion}); err != nil {
				return err
			}
		case !bytes.Equal(v, []byte{formatVersion}):
			return fmt.Errorf("unsupported format version %v", v)
		}
		rev = getInt(meta, metaRev)
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store/embedded: init %s: %w", path, err)
	}
	s := &Store{
		db:      db,
		opts:    opts,
		log:     opts.Logger,
		reqs:    make(chan *txnReq, maxBatchTxns),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.hub.init(rev, opts.Logger)
	go s.commitLoop()
	return s, nil
}

// Close stops the store: queued transactions are committed, watches are
// closed, and the file is closed. Calling Close again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	s.watchers.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store/embedded: close: %w", err)
	}
	return nil
}

// Get returns the key or an error wrapping store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if err := ctx.Err(); err != nil {
		return store.KV{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.KV{}, store.ErrClosed
	}
	var (
		kv    store.KV
		found bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketKV).Get([]byte(key))
		if v == nil {
			return nil
		}
		var err error
		kv, err = decodeRecord(key, v)
		found = err == nil
		return err
	})
	if err != nil {
		return store.KV{}, s.wrapErr("get", err)
	}
	if !found {
		return store.KV{}, fmt.Errorf("store/embedded: get %q: %w", key, store.ErrNotFound)
	}
	return kv, nil
}

// List returns the keys under prefix in key order and the store revision.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) ([]store.KV, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, 0, store.ErrClosed
	}
	var (
		kvs []store.KV
		rev int64
	)
	if opts.Limit > 0 && opts.Limit <= 1024 {
		kvs = make([]store.KV, 0, opts.Limit)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		kvs = kvs[:0]
		rev = getInt(tx.Bucket(bucketMeta), metaRev)
		c := tx.Bucket(bucketKV).Cursor()
		var k, v []byte
		if opts.After != "" && opts.After >= prefix {
			k, v = c.Seek([]byte(opts.After))
			if k != nil && string(k) == opts.After {
				k, v = c.Next()
			}
		} else {
			k, v = c.Seek([]byte(prefix))
		}
		for ; k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			if opts.Limit > 0 && len(kvs) >= opts.Limit {
				break
			}
			kv, err := decodeRecord(string(k), v)
			if err != nil {
				return err
			}
			kvs = append(kvs, kv)
		}
		return nil
	})
	if err != nil {
		return nil, 0, s.wrapErr("list", err)
	}
	return kvs, rev, nil
}

// Txn commits ops atomically (see store.Writer). A transaction that changes
// nothing returns the current revision.
func (s *Store) Txn(ctx context.Context, ops ...store.Op) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	req, err := newTxnReq(ops)
	if err != nil {
		return 0, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, store.ErrClosed
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return 0, ctx.Err()
	}
	s.mu.RUnlock()
	res := <-req.done
	return res.rev, res.err
}

// wrapErr maps bbolt's "closed" to store.ErrClosed.
func (s *Store) wrapErr(op string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("store/embedded: %s: %w", op, store.ErrClosed)
	}
	return fmt.Errorf("store/embedded: %s: %w", op, err)
}

// txnReq is one Txn waiting for the committer.
type txnReq struct {
	ops  []store.Op // sorted by key, values copied
	size int
	done chan txnResult // buffered: the committer never blocks on it
}

type txnResult struct {
	rev int64
	err error
}

// newTxnReq validates ops and copies them, sorted by key so that a
// transaction's events come out in key order.
func newTxnReq(ops []store.Op) (*txnReq, error) {
	req := &txnReq{ops: make([]store.Op, len(ops)), done: make(chan txnResult, 1)}
	for i, op := range ops {
		switch {
		case op.Kind != store.OpPut && op.Kind != store.OpDelete && op.Kind != store.OpCheck:
			return nil, fmt.Errorf("store/embedded: op %d on %q: unknown kind %d", i, op.Key, op.Kind)
		case op.Key == "":
			return nil, fmt.Errorf("store/embedded: op %d: empty key", i)
		case len(op.Key) > bolt.MaxKeySize:
			return nil, fmt.Errorf("store/embedded: op %d: key of %d bytes is longer than %d", i, len(op.Key), bolt.MaxKeySize)
		case op.Expect < store.ExpectAny:
			return nil, fmt.Errorf("store/embedded: op %d on %q: invalid expectation %d", i, op.Key, op.Expect)
		case len(op.Value) > bolt.MaxValueSize-recordHeader:
			return nil, fmt.Errorf("store/embedded: op %d on %q: value of %d bytes is too large", i, op.Key, len(op.Value))
		}
		if op.Kind == store.OpPut {
			op.Value = bytes.Clone(op.Value)
			if op.Value == nil {
				op.Value = []byte{}
			}
			req.size += len(op.Value)
		} else {
			op.Value = nil
		}
		req.ops[i] = op
	}
	slices.SortFunc(req.ops, func(a, b store.Op) int { return strings.Compare(a.Key, b.Key) })
	for i := 1; i < len(req.ops); i++ {
		if req.ops[i].Key == req.ops[i-1].Key {
			return nil, fmt.Errorf("store/embedded: transaction names key %q twice", req.ops[i].Key)
		}
	}
	return req, nil
}
