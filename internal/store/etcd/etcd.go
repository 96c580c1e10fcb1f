// Package etcd is Berth's multi-server store backend: a store.Store on an
// etcd v3 cluster through go.etcd.io/etcd/client/v3.
//
// The mapping is direct. Keys live under a namespace prefix that is
// prepended verbatim (New(cli, "/berth") stores "/clusters/x" at
// "/berth/clusters/x"; no other namespace on the cluster should start with
// the prefix, since List("") and Watch("") cover everything that does).
// Revisions are etcd's own revisions, which count the whole cluster, so
// writes outside the namespace move them too. Txn is one etcd transaction
// whose If compares ModRevision (or CreateRevision = 0 for ExpectAbsent)
// and whose Then holds the puts and deletes; List is a range with a limit;
// Watch is an etcd watch from a revision, and a compacted revision maps to
// store.ErrCompacted.
//
// etcd's own limits apply: at most --max-txn-ops (128 by default) ops per
// transaction and --max-request-bytes (1.5 MiB by default) per request.
//
// A watch's channel also closes, with its ctx still live, when etcd cancels
// the watch: the member lost its leader (watches require a leader), or the
// revisions it was about to send were compacted. The caller then watches
// again from the revision after the last event it saw.
package etcd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth/berth/internal/store"
)

// Store is a store.Store on etcd. It is safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	prefix string

	mu       sync.RWMutex // guards closed and watchers.Add
	closed   bool
	done     chan struct{} // closed by Close
	watchers sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// New returns a store on cli under the namespace prefix. The caller keeps
// ownership of cli: Close does not close it.
func New(cli *clientv3.Client, prefix string) *Store {
	return &Store{cli: cli, prefix: prefix, done: make(chan struct{})}
}

// Close closes every watch and makes further calls fail with
// store.ErrClosed. It does not close the client. Calling it again returns
// nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.watchers.Wait()
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// Get returns the key or an error wrapping store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (store.KV, error) {
	if s.isClosed() {
		return store.KV{}, store.ErrClosed
	}
	if key == "" {
		return store.KV{}, fmt.Errorf("store/etcd: get empty key: %w", store.ErrNotFound)
	}
	resp, err := s.cli.Get(ctx, s.prefix+key)
	if err != nil {
		return store.KV{}, s.wrap("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return store.KV{}, fmt.Errorf("store/etcd: get %q: %w", key, store.ErrNotFound)
	}
	return s.kv(resp.Kvs[0]), nil
}

// List returns the keys under prefix in key order and the revision the
// listing was read at.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) ([]store.KV, int64, error) {
	if s.isClosed() {
		return nil, 0, store.ErrClosed
	}
	start := s.prefix + prefix
	if opts.After != "" && opts.After >= prefix {
		start = s.prefix + opts.After + "\x00"
	}
	if start == "" {
		start = "\x00"
	}
	ops := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(s.prefix + prefix))}
	if opts.Limit > 0 {
		ops = append(ops, clientv3.WithLimit(int64(opts.Limit)))
	}
	resp, err := s.cli.Get(ctx, start, ops...)
	if err != nil {
		return nil, 0, s.wrap("list "+prefix, err)
	}
	kvs := make([]store.KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kvs = append(kvs, s.kv(kv))
	}
	return kvs, resp.Header.Revision, nil
}

// Txn commits ops in one etcd transaction. A transaction that changes
// nothing returns the current revision.
func (s *Store) Txn(ctx context.Context, ops ...store.Op) (int64, error) {
	if s.isClosed() {
		return 0, store.ErrClosed
	}
	var (
		cmps   []clientv3.Cmp
		then   []clientv3.Op
		orElse []clientv3.Op // on conflict, read the keys back to say why
		seen   = make(map[string]bool, len(ops))
	)
	for i, op := range ops {
		switch {
		case op.Kind != store.OpPut && op.Kind != store.OpDelete && op.Kind != store.OpCheck:
			return 0, fmt.Errorf("store/etcd: op %d on %q: unknown kind %d", i, op.Key, op.Kind)
		case op.Key == "":
			return 0, fmt.Errorf("store/etcd: op %d: empty key", i)
		case op.Expect < store.ExpectAny:
			return 0, fmt.Errorf("store/etcd: op %d on %q: invalid expectation %d", i, op.Key, op.Expect)
		case seen[op.Key]:
			return 0, fmt.Errorf("store/etcd: transaction names key %q twice", op.Key)
		}
		seen[op.Key] = true
		key := s.prefix + op.Key
		switch {
		case op.Expect == store.ExpectAbsent:
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
		case op.Expect > 0:
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", op.Expect))
		}
		if op.Expect != store.ExpectAny {
			orElse = append(orElse, clientv3.OpGet(key, clientv3.WithKeysOnly()))
		}
		switch op.Kind {
		case store.OpPut:
			then = append(then, clientv3.OpPut(key, string(op.Value)))
		case store.OpDelete:
			then = append(then, clientv3.OpDelete(key))
		}
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(then...).Else(orElse...).Commit()
	if err != nil {
		return 0, s.wrap("txn", err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("store/etcd: %s: %w", s.conflictDetail(ops, resp), store.ErrConflict)
	}
	return resp.Header.Revision, nil
}

// conflictDetail names the expectations that failed, from the Else reads.
func (s *Store) conflictDetail(ops []store.Op, resp *clientv3.TxnResponse) string {
	mods := map[string]int64{}
	for _, r := range resp.Responses {
		if rr := r.GetResponseRange(); rr != nil {
			for _, kv := range rr.Kvs {
				mods[strings.TrimPrefix(string(kv.Key), s.prefix)] = kv.ModRevision
			}
		}
	}
	var why []string
	for _, op := range ops {
		mod, exists := mods[op.Key]
		switch {
		case op.Expect == store.ExpectAbsent && exists:
			why = append(why, fmt.Sprintf("%q exists (mod revision %d), expected absent", op.Key, mod))
		case op.Expect > 0 && !exists:
			why = append(why, fmt.Sprintf("%q is absent, expected mod revision %d", op.Key, op.Expect))
		case op.Expect > 0 && mod != op.Expect:
			why = append(why, fmt.Sprintf("%q has mod revision %d, expected %d", op.Key, mod, op.Expect))
		}
	}
	if len(why) == 0 {
		return "expectations failed"
	}
	return strings.Join(why, "; ")
}

// Watch streams events under prefix from revision from (0: from now on).
func (s *Store) Watch(ctx context.Context, prefix string, from int64) (<-chan store.Event, error) {
	if from < 0 {
		return nil, fmt.Errorf("store/etcd: watch from negative revision %d", from)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, store.ErrClosed
	}
	s.watchers.Add(1)
	s.mu.RUnlock()

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	rev, err := s.watchStart(wctx, prefix, from)
	if err != nil {
		cancel()
		s.watchers.Done()
		return nil, err
	}
	wch := s.cli.Watch(wctx, s.prefix+prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	out := make(chan store.Event)
	go s.relay(wctx, cancel, wch, out)
	return out, nil
}

// watchStart returns the revision to start watching at. For from = 0 it is
// the revision after the current one, fixed now so that writes made after
// Watch returns are not missed while etcd sets the watch up. For an older
// from it checks, with a read at that revision, that etcd still has it.
func (s *Store) watchStart(ctx context.Context, prefix string, from int64) (int64, error) {
	probe := s.prefix + prefix
	if probe == "" {
		probe = "\x00"
	}
	if from == 0 {
		resp, err := s.cli.Get(ctx, probe, clientv3.WithCountOnly())
		if err != nil {
			return 0, s.wrap("watch "+prefix, err)
		}
		return resp.Header.Revision + 1, nil
	}
	_, err := s.cli.Get(ctx, probe, clientv3.WithRev(from), clientv3.WithCountOnly())
	switch {
	case err == nil, errors.Is(err, rpctypes.ErrFutureRev):
		return from, nil
	case errors.Is(err, rpctypes.ErrCompacted):
		return 0, fmt.Errorf("store/etcd: watch %q from revision %d: %w", prefix, from, store.ErrCompacted)
	default:
		return 0, s.wrap("watch "+prefix, err)
	}
}

// relay converts etcd watch responses to events until the watch ends, ctx
// is done or the store closes.
func (s *Store) relay(ctx context.Context, cancel context.CancelFunc, wch clientv3.WatchChan, out chan<- store.Event) {
	defer s.watchers.Done()
	defer close(out)
	defer cancel()
	for {
		select {
		case resp, ok := <-wch:
			if !ok || resp.Canceled || resp.Err() != nil {
				return
			}
			for _, ev := range s.events(resp.Events) {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				case <-s.done:
					return
				}
			}
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

// events converts etcd events, putting each revision's events in key order
// (etcd sends a transaction's events together, in the order of its ops).
func (s *Store) events(evs []*clientv3.Event) []store.Event {
	out := make([]store.Event, 0, len(evs))
	for _, ev := range evs {
		e := store.Event{KV: s.kv(ev.Kv)}
		switch ev.Type {
		case mvccpb.PUT:
			e.Type = store.EventPut
		case mvccpb.DELETE:
			e.Type = store.EventDelete
			e.KV.Value = nil
			e.KV.CreateRevision = 0
		default:
			continue
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b store.Event) int {
		if a.KV.ModRevision != b.KV.ModRevision {
			return cmp.Compare(a.KV.ModRevision, b.KV.ModRevision)
		}
		return strings.Compare(a.KV.Key, b.KV.Key)
	})
	for i := range out { // a response holds whole revisions (no fragmenting)
		out[i].Last = store.EndsRevision(out, i)
	}
	return out
}

func (s *Store) kv(kv *mvccpb.KeyValue) store.KV {
	return store.KV{
		Key:            strings.TrimPrefix(string(kv.Key), s.prefix),
		Value:          kv.Value,
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
	}
}

// wrap wraps an etcd error, reporting store.ErrClosed once the store is
// closed.
func (s *Store) wrap(what string, err error) error {
	if s.isClosed() {
		return fmt.Errorf("store/etcd: %s: %w (%v)", what, store.ErrClosed, err)
	}
	return fmt.Errorf("store/etcd: %s: %w", what, err)
}
