package credential

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/berth/berth/internal/store"
)

// fakeStore is a small in-memory store.Store with revisions, expectations
// and replayable watches, plus knobs to break watches and count reads.
type fakeStore struct {
	mu        sync.Mutex
	rev       int64
	kvs       map[string]store.KV
	history   []store.Event
	notify    chan struct{} // closed and replaced on every commit
	kills     []chan struct{}
	closed    bool
	gets      int
	watchErr  error         // returned once by the next Watch
	watchCall chan struct{} // receives (non-blocking) on every Watch call
}

func newFakeStore() *fakeStore {
	return &fakeStore{kvs: map[string]store.KV{}, notify: make(chan struct{}), watchCall: make(chan struct{}, 16)}
}

func (s *fakeStore) Get(_ context.Context, key string) (store.KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.KV{}, store.ErrClosed
	}
	s.gets++
	kv, ok := s.kvs[key]
	if !ok {
		return store.KV{}, fmt.Errorf("%w: %s", store.ErrNotFound, key)
	}
	return kv, nil
}

func (s *fakeStore) getCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

func (s *fakeStore) List(_ context.Context, prefix string, opts store.ListOptions) ([]store.KV, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, store.ErrClosed
	}
	var out []store.KV
	for k, kv := range s.kvs {
		if strings.HasPrefix(k, prefix) && k > opts.After {
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	return out, s.rev, nil
}

func (s *fakeStore) Txn(_ context.Context, ops ...store.Op) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	for _, op := range ops {
		kv, exists := s.kvs[op.Key]
		switch {
		case op.Expect == store.ExpectAny:
		case op.Expect == store.ExpectAbsent && exists, op.Expect > 0 && (!exists || kv.ModRevision != op.Expect):
			return 0, fmt.Errorf("%w: %s", store.ErrConflict, op.Key)
		}
	}
	s.rev++
	for _, op := range ops {
		switch op.Kind {
		case store.OpPut:
			kv, exists := s.kvs[op.Key]
			if !exists {
				kv.CreateRevision = s.rev
			}
			kv.Key, kv.Value, kv.ModRevision = op.Key, append([]byte(nil), op.Value...), s.rev
			s.kvs[op.Key] = kv
			s.history = append(s.history, store.Event{Type: store.EventPut, KV: kv})
		case store.OpDelete:
			if _, exists := s.kvs[op.Key]; exists {
				delete(s.kvs, op.Key)
				s.history = append(s.history, store.Event{Type: store.EventDelete, KV: store.KV{Key: op.Key, ModRevision: s.rev}})
			}
		}
	}
	close(s.notify)
	s.notify = make(chan struct{})
	return s.rev, nil
}

func (s *fakeStore) Watch(ctx context.Context, prefix string, from int64) (<-chan store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.watchCall <- struct{}{}:
	default:
	}
	if s.closed {
		return nil, store.ErrClosed
	}
	if err := s.watchErr; err != nil {
		s.watchErr = nil
		return nil, err
	}
	pos := len(s.history)
	if from > 0 {
		pos = sort.Search(len(s.history), func(i int) bool { return s.history[i].KV.ModRevision >= from })
	}
	kill := make(chan struct{})
	s.kills = append(s.kills, kill)
	ch := make(chan store.Event)
	go func() {
		defer close(ch)
		for {
			s.mu.Lock()
			evs := s.history[pos:]
			pos = len(s.history)
			notify, closed := s.notify, s.closed
			s.mu.Unlock()
			for _, ev := range evs {
				if !strings.HasPrefix(ev.KV.Key, prefix) {
					continue
				}
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				case <-kill:
					return
				}
			}
			if closed {
				return
			}
			select {
			case <-notify:
			case <-ctx.Done():
				return
			case <-kill:
				return
			}
		}
	}()
	return ch, nil
}

// breakWatches ends every open watch, as a lost etcd connection would.
func (s *fakeStore) breakWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.kills {
		close(k)
	}
	s.kills = nil
}

func (s *fakeStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.notify)
		s.notify = make(chan struct{})
	}
	return nil
}

var _ store.Store = (*fakeStore)(nil)
