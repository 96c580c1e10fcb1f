// Package statedb persists the agent's state across restarts: one record
// per task it manages (opaque bytes; the engine owns their encoding) and
// the container instance ARN the agent registered as. Open gives the
// durable bbolt implementation (<dir>/agent.db, every write fsync'd before
// it returns, concurrent writes group-committed into one transaction);
// NewMemory gives an in-memory one for tests. Both satisfy DB and pass the
// same conformance test.
package statedb

import (
	"context"
	"errors"
)

// DB is the agent's state store. Implementations are safe for concurrent
// use. Records are copied in and out: callers may reuse their slices.
type DB interface {
	// SaveTask creates or replaces the record of task arn. When it
	// returns nil the record survives a crash.
	SaveTask(ctx context.Context, arn string, record []byte) error
	// DeleteTask removes the record of task arn; a missing one is fine.
	DeleteTask(ctx context.Context, arn string) error
	// LoadTasks returns every task record, by task ARN.
	LoadTasks(ctx context.Context) (map[string][]byte, error)
	// InstanceARN returns the saved container instance ARN, "" if none.
	InstanceARN(ctx context.Context) (string, error)
	// SetInstanceARN saves the container instance ARN.
	SetInstanceARN(ctx context.Context, arn string) error
	// Close releases the store.
	Close() error
}

// ErrClosed is returned by a closed store.
var ErrClosed = errors.New("statedb: closed")
