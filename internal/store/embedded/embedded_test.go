package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/storetest"
)

var quiet = slog.New(slog.DiscardHandler)

func openTemp(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t, Options{})
		return s
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(b *testing.B) store.Store {
		s, _ := openTemp(b, Options{})
		return s
	})
}

func mustTxn(t testing.TB, s store.Store, ops ...store.Op) int64 {
	t.Helper()
	rev, err := s.Txn(context.Background(), ops...)
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	return rev
}

func recv(t *testing.T, ch <-chan store.Event) (store.Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(20 * time.Second):
		t.Fatal("watch channel neither delivered nor closed")
	}
	return store.Event{}, false
}

func TestCompaction(t *testing.T) {
	s, path := openTemp(t, Options{History: 5})
	var last int64
	for i := range 12 {
		last = mustTxn(t, s, store.Put("/k", []byte(fmt.Sprint(i)), store.ExpectAny))
	}
	if last != 12 {
		t.Fatalf("last revision = %d, want 12", last)
	}
	tests := []struct {
		from      int64
		compacted bool
	}{
		{1, true},
		{last - 5, true},
		{last - 4, false},
		{last, false},
		{last + 1, false},
		{0, false},
	}
	check := func(s *Store) {
		t.Helper()
		for _, tc := range tests {
			ctx, cancel := context.WithCancel(t.Context())
			ch, err := s.Watch(ctx, "/", tc.from)
			if tc.compacted {
				if !errors.Is(err, store.ErrCompacted) {
					t.Errorf("Watch(from %d) error = %v, want ErrCompacted", tc.from, err)
				}
				cancel()
				continue
			}
			if err != nil {
				t.Errorf("Watch(from %d): %v", tc.from, err)
				cancel()
				continue
			}
			if tc.from > 0 && tc.from <= last {
				ev, ok := recv(t, ch)
				if !ok || ev.KV.ModRevision != tc.from {
					t.Errorf("Watch(from %d) first event = %+v (open %v)", tc.from, ev, ok)
				}
			}
			cancel()
		}
	}
	check(s)
	var logLen int
	if err := s.db.View(func(tx *bolt.Tx) error { logLen = tx.Bucket(bucketLog).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	if logLen != 5 {
		t.Errorf("log holds %d revisions, want 5", logLen)
	}
	// Compaction survives a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{History: 5, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	check(s2)
}

func TestSlowWatcherIsDropped(t *testing.T) {
	s, _ := openTemp(t, Options{WatchBuffer: 4})
	slow, err := s.Watch(t.Context(), "/s/", 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	// Nobody reads slow: writers must still go through.
	var revs []int64
	for i := range n {
		revs = append(revs, mustTxn(t, s, store.Put(fmt.Sprintf("/s/%02d", i), nil, store.ExpectAbsent)))
	}
	// slow gets a gap-free prefix of the events, then its channel closes.
	var got []int64
	for {
		ev, ok := recv(t, slow)
		if !ok {
			break
		}
		got = append(got, ev.KV.ModRevision)
	}
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("slow watcher got %d events before closing, want some but not all %d", len(got), n)
	}
	for i, r := range got {
		if r != revs[i] {
			t.Fatalf("slow watcher event %d at revision %d, want %d", i, r, revs[i])
		}
	}
	// The store still serves new watchers.
	fresh, err := s.Watch(t.Context(), "/s/", 0)
	if err != nil {
		t.Fatal(err)
	}
	r := mustTxn(t, s, store.Put("/s/fresh", nil, store.ExpectAbsent))
	revs = append(revs, r)
	if ev, ok := recv(t, fresh); !ok || ev.KV.ModRevision != r {
		t.Fatalf("new watcher got %+v (open %v), want revision %d", ev, ok, r)
	}
	// Watching again from the next revision catches up.
	again, err := s.Watch(t.Context(), "/s/", got[len(got)-1]+1)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range revs[len(got):] {
		ev, ok := recv(t, again)
		if !ok || ev.KV.ModRevision != want {
			t.Fatalf("re-watch event at %d (open %v), want %d", ev.KV.ModRevision, ok, want)
		}
	}
}

func TestReopen(t *testing.T) {
	s, path := openTemp(t, Options{})
	r1 := mustTxn(t, s, store.Put("/a", []byte("1"), store.ExpectAbsent), store.Put("/b", []byte("2"), store.ExpectAbsent))
	r2 := mustTxn(t, s, store.Delete("/a", r1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Get(t.Context(), "/a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted key after reopen: %v", err)
	}
	kv, err := s2.Get(t.Context(), "/b")
	if err != nil || string(kv.Value) != "2" || kv.ModRevision != r1 {
		t.Fatalf("Get /b after reopen = %+v, %v", kv, err)
	}
	if r3 := mustTxn(t, s2, store.Put("/c", nil, store.ExpectAbsent)); r3 != r2+1 {
		t.Fatalf("revision after reopen = %d, want %d", r3, r2+1)
	}
	ch, err := s2.Watch(t.Context(), "/", r1)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		typ store.EventType
		key string
		rev int64
	}{{store.EventPut, "/a", r1}, {store.EventPut, "/b", r1}, {store.EventDelete, "/a", r2}, {store.EventPut, "/c", r2 + 1}} {
		ev, ok := recv(t, ch)
		if !ok || ev.Type != want.typ || ev.KV.Key != want.key || ev.KV.ModRevision != want.rev {
			t.Fatalf("replayed %+v (open %v), want %+v", ev, ok, want)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	_, path := openTemp(t, Options{})
	s, err := Open(path, Options{OpenTimeout: 50 * time.Millisecond, Logger: quiet})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
}

func TestInvalidTxn(t *testing.T) {
	s, _ := openTemp(t, Options{})
	tests := []struct {
		name string
		ops  []store.Op
	}{
		{"empty key", []store.Op{store.Put("", nil, store.ExpectAny)}},
		{"unknown kind", []store.Op{{Kind: 0, Key: "/k"}}},
		{"bad expectation", []store.Op{store.Put("/k", nil, -2)}},
		{"key too long", []store.Op{store.Put(string(make([]byte, 40000)), nil, store.ExpectAny)}},
	}
	for _, tc := range tests {
		if _, err := s.Txn(t.Context(), tc.ops...); err == nil || errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: error = %v, want a validation error", tc.name, err)
		}
	}
	if _, err := s.Watch(t.Context(), "/", -1); err == nil {
		t.Error("Watch from -1 succeeded")
	}
}
