package credential

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func mustGenerate(t *testing.T, name string) Credential {
	t.Helper()
	c, err := Generate(rand.Reader, name, false, now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// regStore is what the registry tests run against; see backends_test.go.
type regStore interface {
	Store
	Close() error
}

// forEachBackend runs a registry test against the fake store and every
// real backend in realBackends. The test gets two handles on the same data:
// for etcd two clients, as two Berth servers would have; for single-process
// backends the same store twice.
func forEachBackend(t *testing.T, test func(t *testing.T, st, peer regStore)) {
	t.Run("fake", func(t *testing.T) {
		st := newFakeStore()
		test(t, st, st)
	})
	for name, open := range realBackends {
		t.Run(name, func(t *testing.T) {
			st, peer := open(t)
			t.Cleanup(func() { st.Close(); peer.Close() })
			test(t, st, peer)
		})
	}
}

// realBackends maps a backend name to a constructor of two handles on one
// fresh store; backends_test.go fills it.
var realBackends = map[string]func(t *testing.T) (st, peer regStore){}

func TestRegistryCRUD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st, _ regStore) {
		ctx := context.Background()
		r := NewRegistry(st, quiet)
		a, b := mustGenerate(t, "alice"), mustGenerate(t, "bob")
		for _, c := range []Credential{a, b} {
			if err := r.Create(ctx, c); err != nil {
				t.Fatalf("Create: %v", err)
			}
		}
		dup := b
		dup.SecretAccessKey = "anotherSecret0123456789"
		if err := r.Create(ctx, dup); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate Create: got %v", err)
		}
		if err := r.Create(ctx, Credential{AccessKeyID: "bad/key", SecretAccessKey: "x", Name: "x"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("invalid Create: got %v", err)
		}

		got, err := r.Get(ctx, a.AccessKeyID)
		if err != nil || got != a {
			t.Fatalf("Get = %+v, %v; want %+v", got, err, a)
		}
		if _, err := r.Get(ctx, "BKIANOTTHEREAAAAAAAA"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get unknown: got %v", err)
		}
		if _, err := r.Get(ctx, "../../clusters/x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get malformed: got %v", err)
		}

		list, err := r.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []Credential{a, b}
		slices.SortFunc(want, func(x, y Credential) int { return strings.Compare(x.AccessKeyID, y.AccessKeyID) })
		if !slices.Equal(list, want) {
			t.Fatalf("List = %+v, want %+v", list, want)
		}

		if s, err := r.SecretKey(ctx, b.AccessKeyID); err != nil || s != b.SecretAccessKey {
			t.Fatalf("SecretKey = %q, %v", s, err)
		}
		if err := r.Delete(ctx, b.AccessKeyID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := r.Delete(ctx, b.AccessKeyID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Delete: got %v", err)
		}
		if _, err := r.SecretKey(ctx, b.AccessKeyID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SecretKey after Delete: got %v", err)
		}
		// The access key ID is free again.
		if err := r.Create(ctx, dup); err != nil {
			t.Fatalf("re-Create after Delete: %v", err)
		}
		if s, _ := r.SecretKey(ctx, dup.AccessKeyID); s != dup.SecretAccessKey {
			t.Fatalf("SecretKey after re-create = %q", s)
		}
	})
}

// runRegistry starts Run and waits for the cache to be synced.
func runRegistry(t *testing.T, r *Registry) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := r.WaitSynced(wctx); err != nil {
		cancel()
		t.Fatalf("WaitSynced: %v", err)
	}
	return func() error { cancel(); return <-done }
}

// eventually polls cond until it holds; the bound only guards against a
// hang, it asserts nothing about speed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRegistryCacheFollowsOtherServers: two registries share one store, as
// two Berth servers share etcd. Creates and deletes made through one are
// seen by the other's cache.
func TestRegistryCacheFollowsOtherServers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st, peer regStore) {
		ctx := context.Background()
		serverA, serverB := NewRegistry(st, quiet), NewRegistry(peer, quiet)
		early := mustGenerate(t, "early")
		if err := serverA.Create(ctx, early); err != nil {
			t.Fatal(err)
		}
		stop := runRegistry(t, serverB)

		// A key that existed before Run is cached by the listing.
		if s, err := serverB.SecretKey(ctx, early.AccessKeyID); err != nil || s != early.SecretAccessKey {
			t.Fatalf("SecretKey(early) = %q, %v", s, err)
		}
		// A key created elsewhere works at once (store fallback) and then
		// from the cache once the watch delivers it.
		late := mustGenerate(t, "late")
		if err := serverA.Create(ctx, late); err != nil {
			t.Fatal(err)
		}
		if s, err := serverB.SecretKey(ctx, late.AccessKeyID); err != nil || s != late.SecretAccessKey {
			t.Fatalf("SecretKey(late) = %q, %v", s, err)
		}
		eventually(t, "late key cached", func() bool { return serverB.cached(late.AccessKeyID) })

		// A key deleted elsewhere stops working once the watch delivers it.
		if err := serverA.Delete(ctx, early.AccessKeyID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "deleted key refused", func() bool {
			_, err := serverB.SecretKey(ctx, early.AccessKeyID)
			return errors.Is(err, ErrNotFound)
		})
		if serverB.cached(early.AccessKeyID) {
			t.Fatal("deleted key still cached")
		}
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v after cancel", err)
		}
		if serverB.Synced() {
			t.Fatal("still synced after Run returned")
		}
	})
}

// cached reports whether the cache currently holds the key.
func (r *Registry) cached(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.cache[id]
	return ok && r.synced
}

// TestRegistryCacheServesWithoutStoreReads: once synced, lookups of known
// keys cost no store read; unknown keys are checked against the store.
func TestRegistryCacheServesWithoutStoreReads(t *testing.T) {
	ctx := context.Background()
	st := newFakeStore()
	r := NewRegistry(st, quiet)
	c := mustGenerate(t, "svc")
	if err := r.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	// Without Run every lookup reads the store.
	before := st.getCount()
	if _, err := r.SecretKey(ctx, c.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if st.getCount() != before+1 {
		t.Fatalf("unsynced lookup did %d store reads", st.getCount()-before)
	}
	stop := runRegistry(t, r)
	defer stop()
	before = st.getCount()
	for i := 0; i < 5; i++ {
		if s, err := r.SecretKey(ctx, c.AccessKeyID); err != nil || s != c.SecretAccessKey {
			t.Fatalf("SecretKey = %q, %v", s, err)
		}
		if got, err := r.Lookup(ctx, c.AccessKeyID); err != nil || got != c {
			t.Fatalf("Lookup = %+v, %v; want %+v", got, err, c)
		}
	}
	if st.getCount() != before {
		t.Fatalf("synced lookups did %d store reads", st.getCount()-before)
	}
	if _, err := r.SecretKey(ctx, "BKIANOTTHEREAAAAAAAA"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown key: got %v", err)
	}
	if st.getCount() != before+1 {
		t.Fatal("an unknown key must be checked against the store")
	}
	// A local delete takes effect at once, before any watch event.
	if err := r.Delete(ctx, c.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SecretKey(ctx, c.AccessKeyID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after local Delete: got %v", err)
	}
	if _, err := r.Lookup(ctx, c.AccessKeyID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup after local Delete: got %v", err)
	}
}

// TestRegistryResync: when the watch breaks, lookups go to the store (a key
// deleted meanwhile is refused even though no event arrived) and Run
// re-lists and watches again, also after a compaction error.
func TestRegistryResync(t *testing.T) {
	ctx := context.Background()
	st := newFakeStore()
	r := NewRegistry(st, quiet)
	c := mustGenerate(t, "svc")
	if err := r.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	stop := runRegistry(t, r)
	defer stop()
	waitWatch(t, st) // the first Watch

	st.mu.Lock()
	st.watchErr = store.ErrCompacted // the first re-watch fails
	st.mu.Unlock()
	st.breakWatches()
	eventually(t, "sync lost", func() bool { return !r.Synced() })
	r.mu.Lock()
	stale := len(r.cache)
	r.mu.Unlock()
	if stale != 0 {
		t.Fatalf("%d entries kept without a watch", stale)
	}
	// While unsynced, a key deleted behind the registry's back is refused.
	if _, err := st.Txn(ctx, store.Delete(Key(c.AccessKeyID), store.ExpectAny)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SecretKey(ctx, c.AccessKeyID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unsynced lookup of a deleted key: got %v", err)
	}
	waitWatch(t, st) // the failing re-watch
	waitWatch(t, st) // the successful one
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.WaitSynced(wctx); err != nil {
		t.Fatal(err)
	}
	if r.cached(c.AccessKeyID) {
		t.Fatal("the re-listing resurrected a deleted key")
	}
}

// waitWatch waits for the registry's next Watch call on st.
func waitWatch(t *testing.T, st *fakeStore) {
	t.Helper()
	select {
	case <-st.watchCall:
	case <-time.After(10 * time.Second):
		t.Fatal("no Watch call")
	}
}

func TestRegistryRunEndsWhenStoreCloses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st, _ regStore) {
		r := NewRegistry(st, quiet)
		done := make(chan error, 1)
		go func() { done <- r.Run(context.Background()) }()
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.WaitSynced(wctx); err != nil {
			t.Fatal(err)
		}
		st.Close()
		select {
		case err := <-done:
			if !errors.Is(err, store.ErrClosed) {
				t.Fatalf("Run returned %v, want ErrClosed", err)
			}
		case <-wctx.Done():
			t.Fatal("Run did not return after the store closed")
		}
	})
}

// TestRegistryEventOrdering drives the cache directly: an event older than
// a delete this server made cannot bring the key back, a newer put can.
func TestRegistryEventOrdering(t *testing.T) {
	r := NewRegistry(newFakeStore(), quiet)
	c := mustGenerate(t, "x")
	val := []byte(`{"accessKeyId":"` + c.AccessKeyID + `","secretAccessKey":"` + c.SecretAccessKey + `","name":"x"}`)
	put := func(rev int64) store.Event {
		return store.Event{Type: store.EventPut, KV: store.KV{Key: Key(c.AccessKeyID), Value: val, ModRevision: rev}}
	}
	del := func(rev int64) store.Event {
		return store.Event{Type: store.EventDelete, KV: store.KV{Key: Key(c.AccessKeyID), ModRevision: rev}}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.synced = true
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"put at 5", func() { r.applyLocked(put(5)) }, true},
		{"older put at 4 ignored", func() { r.applyLocked(put(4)) }, true},
		{"local delete at 7", func() { delete(r.cache, c.AccessKeyID); r.tombs[c.AccessKeyID] = 7 }, false},
		{"late put at 6 cannot resurrect", func() { r.applyLocked(put(6)) }, false},
		{"delete event at 7", func() { r.applyLocked(del(7)) }, false},
		{"recreated at 8", func() { r.applyLocked(put(8)); r.pruneTombsLocked(8) }, true},
		{"deleted at 9", func() { r.applyLocked(del(9)) }, false},
		{"garbage at 10 is not served", func() {
			r.applyLocked(store.Event{Type: store.EventPut, KV: store.KV{Key: Key(c.AccessKeyID), Value: []byte("{"), ModRevision: 10}})
		}, false},
		{"key outside the prefix ignored", func() {
			r.applyLocked(store.Event{Type: store.EventPut, KV: store.KV{Key: "/clusters/x", Value: val, ModRevision: 11}})
		}, false},
	}
	for _, s := range steps {
		s.do()
		if _, ok := r.cache[c.AccessKeyID]; ok != s.want {
			t.Fatalf("%s: cached = %v, want %v", s.name, ok, s.want)
		}
	}
	if len(r.tombs) != 1 {
		t.Fatalf("tombstones %v: old ones must be pruned", r.tombs)
	}
}

func TestRegistryUndecodableValue(t *testing.T) {
	ctx := context.Background()
	st := newFakeStore()
	if _, err := st.Txn(ctx, store.Put(Key("BKIACORRUPTAAAAAAAAA"), []byte("not json"), store.ExpectAbsent)); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(st, quiet)
	if _, err := r.SecretKey(ctx, "BKIACORRUPTAAAAAAAAA"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("corrupt value: got %v, want a decode error", err)
	}
	if _, err := r.List(ctx); err == nil {
		t.Fatal("List of a corrupt value must fail")
	}
}
