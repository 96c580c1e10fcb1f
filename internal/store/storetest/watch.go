package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berth/berth/internal/store"
)

// wantEvent is what the suite expects of one event; CreateRevision is only
// checked for puts (etcd reports 0 for deletes).
type wantEvent struct {
	typ    store.EventType
	key    string
	value  string
	create int64
	mod    int64
}

func put(key, value string, create, mod int64) wantEvent {
	return wantEvent{typ: store.EventPut, key: key, value: value, create: create, mod: mod}
}

func del(key string, mod int64) wantEvent {
	return wantEvent{typ: store.EventDelete, key: key, mod: mod}
}

// watch starts a watch that lives until the test ends.
func watch(t *testing.T, s store.Store, prefix string, from int64) <-chan store.Event {
	t.Helper()
	ch, err := s.Watch(t.Context(), prefix, from)
	if err != nil {
		t.Fatalf("Watch(%q, %d): %v", prefix, from, err)
	}
	return ch
}

// expectEvents receives len(want) events and compares them in order.
func expectEvents(t testing.TB, ch <-chan store.Event, want ...wantEvent) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for i, w := range want {
		var ev store.Event
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("watch channel closed after %d of %d events", i, len(want))
			}
			ev = e
		case <-timer.C:
			t.Fatalf("no event %d of %d (%s %q) after %v", i+1, len(want), typeName(w.typ), w.key, waitTimeout)
		}
		ok := ev.Type == w.typ && ev.KV.Key == w.key && ev.KV.ModRevision == w.mod
		if w.typ == store.EventPut {
			ok = ok && bytes.Equal(ev.KV.Value, []byte(w.value)) && ev.KV.CreateRevision == w.create
		} else {
			ok = ok && len(ev.KV.Value) == 0
		}
		if !ok {
			t.Fatalf("event %d = %s %s, want %s {%q %q create=%d mod=%d}", i, typeName(ev.Type), fmtKV(ev.KV),
				typeName(w.typ), w.key, w.value, w.create, w.mod)
		}
	}
}

// expectClosed drains ch until it is closed.
func expectClosed(t testing.TB, ch <-chan store.Event) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("watch channel not closed after %v", waitTimeout)
		}
	}
}

func typeName(t store.EventType) string {
	switch t {
	case store.EventPut:
		return "PUT"
	case store.EventDelete:
		return "DELETE"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

func testWatchFromNow(t *testing.T, s store.Store) {
	r1 := mustTxn(t, s, store.Put("/w/old", []byte("old"), store.ExpectAbsent))
	ch := watch(t, s, "/w/", 0)
	r2 := mustTxn(t, s, store.Put("/w/new", []byte("new"), store.ExpectAbsent))
	r3 := mustTxn(t, s, store.Put("/w/old", []byte("old2"), r1))
	expectEvents(t, ch, put("/w/new", "new", r2, r2), put("/w/old", "old2", r1, r3))
}

func testWatchHistory(t *testing.T, s store.Store) {
	ctx := t.Context()
	r1 := mustTxn(t, s, store.Put("/h/a", []byte("1"), store.ExpectAbsent))
	r2 := mustTxn(t, s, store.Put("/h/a", []byte("2"), r1))
	r3 := mustTxn(t, s, store.Put("/h/b", []byte("b"), store.ExpectAbsent), store.Put("/other", nil, store.ExpectAny))
	r4 := mustTxn(t, s, store.Delete("/h/a", r2))
	r5 := mustTxn(t, s, store.Put("/h/a", []byte("3"), store.ExpectAbsent))

	// From the beginning of this test's history.
	ch := watch(t, s, "/h/", r1)
	expectEvents(t, ch,
		put("/h/a", "1", r1, r1),
		put("/h/a", "2", r1, r2),
		put("/h/b", "b", r3, r3),
		del("/h/a", r4),
		put("/h/a", "3", r5, r5),
	)
	// From the middle: earlier revisions are skipped, then live events follow.
	mid := watch(t, s, "/h/", r3)
	expectEvents(t, mid, put("/h/b", "b", r3, r3), del("/h/a", r4), put("/h/a", "3", r5, r5))
	r6 := mustTxn(t, s, store.Put("/h/c", []byte("c"), store.ExpectAbsent))
	r7 := mustTxn(t, s, store.Put("/h/c", []byte("c2"), r6))
	expectEvents(t, ch, put("/h/c", "c", r6, r6), put("/h/c", "c2", r6, r7))
	expectEvents(t, mid, put("/h/c", "c", r6, r6), put("/h/c", "c2", r6, r7))

	// From the revision just committed: only that revision, then live.
	last := watch(t, s, "/h/", r7)
	expectEvents(t, last, put("/h/c", "c2", r6, r7))
	r8 := mustTxn(t, s, store.Delete("/h/c", r7))
	expectEvents(t, last, del("/h/c", r8))

	// Replay racing with writers: every revision exactly once, in order.
	writerDone := make(chan error, 1)
	go func() {
		for i := range 30 {
			if _, err := s.Txn(ctx, store.Put("/h/race", []byte(fmt.Sprint(i)), store.ExpectAny)); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()
	racing := watch(t, s, "/h/race", r8)
	var create int64
	for i := range 30 {
		ev := recvOne(t, racing)
		if create == 0 {
			create = ev.KV.CreateRevision
		}
		if ev.Type != store.EventPut || string(ev.KV.Value) != fmt.Sprint(i) || ev.KV.ModRevision != create+int64(i) {
			t.Fatalf("racing watch event %d = %s %s", i, typeName(ev.Type), fmtKV(ev.KV))
		}
	}
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
}

func testWatchFuture(t *testing.T, s store.Store) {
	r := mustTxn(t, s, store.Put("/f/k", []byte("0"), store.ExpectAbsent))
	ch := watch(t, s, "/f/", r+3)
	var revs []int64
	for i := 1; i <= 4; i++ {
		revs = append(revs, mustTxn(t, s, store.Put("/f/k", []byte(fmt.Sprint(i)), store.ExpectAny)))
	}
	if revs[3] != r+4 {
		t.Fatalf("revisions %v, want %d..%d", revs, r+1, r+4)
	}
	expectEvents(t, ch, put("/f/k", "3", r, r+3), put("/f/k", "4", r, r+4))
}

func testWatchTxnTogether(t *testing.T, s store.Store) {
	r0 := mustTxn(t, s, store.Put("/t/b", []byte("old"), store.ExpectAbsent))
	ch := watch(t, s, "/t/", 0)
	// Ops in non-key order; events must come in key order, together.
	r1 := mustTxn(t, s,
		store.Put("/t/c", []byte("c"), store.ExpectAbsent),
		store.Put("/u/outside", []byte("x"), store.ExpectAny),
		store.Delete("/t/b", r0),
		store.Put("/t/a", []byte("a"), store.ExpectAbsent),
		store.Delete("/t/none", store.ExpectAny),
	)
	r2 := mustTxn(t, s, store.Put("/t/a", []byte("a2"), r1), store.Put("/t/0", []byte("z"), store.ExpectAbsent))
	expectEvents(t, ch,
		put("/t/a", "a", r1, r1),
		del("/t/b", r1),
		put("/t/c", "c", r1, r1),
		put("/t/0", "z", r2, r2),
		put("/t/a", "a2", r1, r2),
	)
	// The same from history.
	hist := watch(t, s, "/t/", r1)
	expectEvents(t, hist,
		put("/t/a", "a", r1, r1),
		del("/t/b", r1),
		put("/t/c", "c", r1, r1),
		put("/t/0", "z", r2, r2),
		put("/t/a", "a2", r1, r2),
	)
}

func testWatchDelete(t *testing.T, s store.Store) {
	r1 := mustTxn(t, s, store.Put("/del/k", []byte("v"), store.ExpectAbsent))
	ch := watch(t, s, "/del/", 0)
	r2 := mustTxn(t, s, store.Delete("/del/k", r1))
	mustTxn(t, s, store.Delete("/del/k", store.ExpectAny)) // absent: no event
	r3 := mustTxn(t, s, store.Put("/del/k", []byte("again"), store.ExpectAbsent))
	expectEvents(t, ch, del("/del/k", r2), put("/del/k", "again", r3, r3))
}

func testWatchPrefix(t *testing.T, s store.Store) {
	a := watch(t, s, "/pre/a/", 0)
	all := watch(t, s, "", 0)
	exact := watch(t, s, "/pre/a", 0)
	r1 := mustTxn(t, s, store.Put("/pre/b/1", []byte("b1"), store.ExpectAbsent))
	r2 := mustTxn(t, s, store.Put("/pre/a/1", []byte("a1"), store.ExpectAbsent), store.Put("/pre/ab", []byte("ab"), store.ExpectAbsent))
	r3 := mustTxn(t, s, store.Put("/pre/a", []byte("a"), store.ExpectAbsent))
	r4 := mustTxn(t, s, store.Put("/pre/a/2", []byte("a2"), store.ExpectAbsent))
	expectEvents(t, a, put("/pre/a/1", "a1", r2, r2), put("/pre/a/2", "a2", r4, r4))
	expectEvents(t, exact,
		put("/pre/a/1", "a1", r2, r2), put("/pre/ab", "ab", r2, r2),
		put("/pre/a", "a", r3, r3), put("/pre/a/2", "a2", r4, r4))
	expectEvents(t, all,
		put("/pre/b/1", "b1", r1, r1),
		put("/pre/a/1", "a1", r2, r2), put("/pre/ab", "ab", r2, r2),
		put("/pre/a", "a", r3, r3), put("/pre/a/2", "a2", r4, r4))
}

func testWatchManyWatchers(t *testing.T, s store.Store) {
	const n = 5
	chans := make([]<-chan store.Event, n)
	for i := range chans {
		chans[i] = watch(t, s, "/many/", 0)
	}
	var want []wantEvent
	for i := range 10 {
		k := fmt.Sprintf("/many/%d", i)
		r := mustTxn(t, s, store.Put(k, []byte(k), store.ExpectAbsent))
		want = append(want, put(k, k, r, r))
	}
	for _, ch := range chans {
		expectEvents(t, ch, want...)
	}
}

func testWatchCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.Watch(ctx, "/cancel/", 0)
	if err != nil {
		t.Fatal(err)
	}
	other := watch(t, s, "/cancel/", 0)
	r := mustTxn(t, s, store.Put("/cancel/k", []byte("v"), store.ExpectAbsent))
	expectEvents(t, ch, put("/cancel/k", "v", r, r))
	cancel()
	// Events may or may not still arrive; the channel must close.
	r2 := mustTxn(t, s, store.Put("/cancel/k", []byte("v2"), r))
	expectClosed(t, ch)

	// A watch whose ctx is already done closes (or fails) too.
	done, cancelDone := context.WithCancel(t.Context())
	cancelDone()
	if dch, err := s.Watch(done, "/cancel/", 0); err == nil {
		expectClosed(t, dch)
	}

	// Other watchers and the store are unaffected.
	r3 := mustTxn(t, s, store.Put("/cancel/k", []byte("v3"), r2))
	expectEvents(t, other, put("/cancel/k", "v", r, r), put("/cancel/k", "v2", r, r2), put("/cancel/k", "v3", r, r3))
}

func testCloseClosesWatches(t *testing.T, s store.Store) {
	r := mustTxn(t, s, store.Put("/cl/a", []byte("a"), store.ExpectAbsent))
	idle := watch(t, s, "/cl/", 0)
	// A watcher nobody reads from must not hold Close up.
	stuck := watch(t, s, "/cl/", r)
	for i := range 5 {
		mustTxn(t, s, store.Put(fmt.Sprintf("/cl/%d", i), nil, store.ExpectAny))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	expectClosed(t, idle)
	expectClosed(t, stuck)
}

func recvOne(t testing.TB, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatalf("no event after %v", waitTimeout)
	}
	return store.Event{}
}

// testWatchLast checks Event.Last: set on the last event of each
// revision the watch delivers, live and from history, and only there.
func testWatchLast(t *testing.T, s store.Store) {
	ch := watch(t, s, "/l/", 0)
	r1 := mustTxn(t, s, store.Put("/l/a", []byte("1"), store.ExpectAny), store.Put("/l/b", []byte("1"), store.ExpectAny),
		store.Put("/outside", []byte("1"), store.ExpectAny))
	r2 := mustTxn(t, s, store.Put("/l/c", []byte("1"), store.ExpectAny))
	r3 := mustTxn(t, s, store.Delete("/l/a", store.ExpectAny), store.Put("/l/b", []byte("2"), store.ExpectAny))
	want := []struct {
		key  string
		rev  int64
		last bool
	}{{"/l/a", r1, false}, {"/l/b", r1, true}, {"/l/c", r2, true}, {"/l/a", r3, false}, {"/l/b", r3, true}}
	for _, from := range []struct {
		name string
		ch   <-chan store.Event
	}{{"live", ch}, {"history", watch(t, s, "/l/", r1)}} {
		for i, w := range want {
			select {
			case ev := <-from.ch:
				if ev.KV.Key != w.key || ev.KV.ModRevision != w.rev || ev.Last != w.last {
					t.Fatalf("%s event %d = %s@%d last=%v, want %s@%d last=%v", from.name, i, ev.KV.Key, ev.KV.ModRevision, ev.Last, w.key, w.rev, w.last)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("%s: no event %d", from.name, i)
			}
		}
	}
}
