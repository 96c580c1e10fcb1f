// Package store defines Berth's durable key-value state: one small interface
// that every backend (embedded bbolt, etcd) implements, with revisions,
// compare-and-swap transactions and watches, in the style of etcd's MVCC API.
//
// Keys are plain strings ("/clusters/default"); values are opaque bytes (the
// callers store JSON). Every committed transaction gets the next revision of
// the whole store, and every key remembers the revision that created it and
// the revision that last modified it. A caller that read a key at
// ModRevision r can write it back only if nobody wrote it since, by
// expecting r in its transaction.
package store

import (
	"context"
	"errors"
	"io"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict: a transaction's expectation did not hold; nothing was written.
	ErrConflict = errors.New("store: revision conflict")
	// ErrCompacted: a watch asked for revisions the store no longer keeps.
	ErrCompacted = errors.New("store: revision compacted")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// KV is one key with its value and revisions.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision int64 // revision of the transaction that created the key
	ModRevision    int64 // revision of the transaction that last wrote the key
}

// Expectations a transaction Op can place on the current state of its key.
const (
	// ExpectAny writes whatever the key's state.
	ExpectAny int64 = -1
	// ExpectAbsent requires that the key does not exist.
	ExpectAbsent int64 = 0
	// Any value > 0 requires that the key exists with exactly that ModRevision.
)

// OpKind says what an Op does.
type OpKind int

const (
	// OpPut writes Value at Key.
	OpPut OpKind = iota + 1
	// OpDelete removes Key (deleting an absent key with ExpectAny is not an error).
	OpDelete
	// OpCheck only asserts Expect on Key; it writes nothing.
	OpCheck
)

// Op is one operation of a transaction.
type Op struct {
	Kind   OpKind
	Key    string
	Value  []byte
	Expect int64 // ExpectAny, ExpectAbsent or a ModRevision
}

// Put, Delete and Check build Ops.
func Put(key string, value []byte, expect int64) Op {
	return Op{Kind: OpPut, Key: key, Value: value, Expect: expect}
}

// Delete builds a delete Op.
func Delete(key string, expect int64) Op { return Op{Kind: OpDelete, Key: key, Expect: expect} }

// Check builds an Op that only asserts expect on key.
func Check(key string, expect int64) Op { return Op{Kind: OpCheck, Key: key, Expect: expect} }

// ListOptions bounds a List.
type ListOptions struct {
	// After, when set, starts the listing strictly after this key (for paging).
	After string
	// Limit caps the number of keys returned; 0 means no limit.
	Limit int
}

// EventType says what happened to a key.
type EventType int

const (
	// EventPut: the key was created or updated.
	EventPut EventType = iota + 1
	// EventDelete: the key was deleted; KV.Value is empty and KV.ModRevision
	// is the revision of the deleting transaction.
	EventDelete
)

// Event is one change seen by a watch.
type Event struct {
	Type EventType
	KV   KV
	// Last marks the last event of its revision (its transaction) that
	// this watch delivers: a reader that has applied it holds the whole
	// transaction, never half of it.
	Last bool
}

// EndsRevision reports whether events[i] is the last of its revision in
// events (whole revisions, in revision order): what Event.Last says.
func EndsRevision(events []Event, i int) bool {
	return i == len(events)-1 || events[i+1].KV.ModRevision != events[i].KV.ModRevision
}

// Reader reads keys.
type Reader interface {
	// Get returns the key or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns the keys with the given prefix in ascending key order, and
	// the store revision the listing reflects.
	List(ctx context.Context, prefix string, opts ListOptions) ([]KV, int64, error)
}

// Writer commits transactions.
type Writer interface {
	// Txn applies all ops atomically, or none of them: if any Expect does not
	// hold it returns an error wrapping ErrConflict and writes nothing. On
	// success it returns the revision of the transaction. A transaction must
	// not name the same key twice. A transaction that changes nothing (no
	// ops, only checks, or deletes of absent keys) succeeds with the current
	// revision and does not create a new one (as in etcd).
	Txn(ctx context.Context, ops ...Op) (int64, error)
}

// Watcher follows changes.
type Watcher interface {
	// Watch sends, in revision order, every event for keys with the given
	// prefix from revision from (inclusive; 0 means "from now on") until ctx
	// is done or the store closes, then closes the channel. Events of one
	// transaction arrive together, in key order. If from is older than
	// what the store keeps, Watch returns an error wrapping ErrCompacted.
	//
	// A backend may also close the channel while ctx is still live, when it
	// drops a watcher that fell too far behind or the watch is cancelled
	// underneath it (etcd: lost leader, compaction). The caller then watches
	// again from the revision after the last event it received, and re-lists
	// if that fails with ErrCompacted. Event values may be shared between
	// watchers: treat them as read-only.
	Watch(ctx context.Context, prefix string, from int64) (<-chan Event, error)
}

// Store is what a backend implements.
type Store interface {
	Reader
	Writer
	Watcher
	io.Closer
}
