// Package storetest is the conformance suite every store.Store backend must
// pass (in the style of containerd's snapshots testsuite): a backend's test
// calls Run once with a function that opens a fresh, empty store, and
// RunBenchmarks once for its benchmarks.
//
// The suite asserts exact revision arithmetic ("the next committed
// transaction gets the current revision + 1"), so the store that open
// returns must have no other writers while a subtest runs. Subtests run one
// after another, never in parallel.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/store"
)

// waitTimeout guards every blocking receive so that a broken backend fails
// the test instead of hanging it. It is not a performance assertion.
const waitTimeout = 20 * time.Second

// revProbe is a prefix no subtest writes under: listing it reads the
// store's current revision without changing anything.
const revProbe = "/storetest-revision-probe/"

// Run runs the conformance suite. open must return a new, empty store for
// each call; Run closes it when the subtest ends (Close must tolerate being
// called twice).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Revisions", testRevisions},
		{"NoChangeTxn", testNoChangeTxn},
		{"List", testList},
		{"ListPaging", testListPaging},
		{"CAS", testCAS},
		{"ConflictWritesNothing", testConflictWritesNothing},
		{"Check", testCheck},
		{"Delete", testDelete},
		{"DuplicateKey", testDuplicateKey},
		{"WatchFromNow", testWatchFromNow},
		{"WatchHistory", testWatchHistory},
		{"WatchFuture", testWatchFuture},
		{"WatchTxnTogether", testWatchTxnTogether},
		{"WatchLast", testWatchLast},
		{"WatchDelete", testWatchDelete},
		{"WatchPrefix", testWatchPrefix},
		{"WatchManyWatchers", testWatchManyWatchers},
		{"WatchCancel", testWatchCancel},
		{"CloseClosesWatches", testCloseClosesWatches},
		{"ClosedErrors", testClosedErrors},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"LargeValue", testLargeValue},
		{"OddKeys", testOddKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

func testGetMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Get(ctx, "/missing")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
	mustTxn(t, s, store.Put("/missing-not", []byte("x"), store.ExpectAny))
	if _, err := s.Get(ctx, "/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) after writing a longer key: error = %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "/missing-"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a prefix of an existing key: error = %v, want ErrNotFound", err)
	}
}

func testPutGet(t *testing.T, s store.Store) {
	r1 := mustTxn(t, s, store.Put("/a", []byte("v1"), store.ExpectAbsent))
	if r1 <= 0 {
		t.Fatalf("first revision = %d, want > 0", r1)
	}
	kv := mustGet(t, s, "/a")
	wantKV(t, kv, store.KV{Key: "/a", Value: []byte("v1"), CreateRevision: r1, ModRevision: r1})

	r2 := mustTxn(t, s, store.Put("/a", []byte("v2"), store.ExpectAny))
	if r2 != r1+1 {
		t.Fatalf("second revision = %d, want %d", r2, r1+1)
	}
	wantKV(t, mustGet(t, s, "/a"), store.KV{Key: "/a", Value: []byte("v2"), CreateRevision: r1, ModRevision: r2})

	// The store must not keep a reference to the caller's slice.
	buf := []byte("v3")
	r3 := mustTxn(t, s, store.Put("/a", buf, r2))
	buf[0] = 'X'
	wantKV(t, mustGet(t, s, "/a"), store.KV{Key: "/a", Value: []byte("v3"), CreateRevision: r1, ModRevision: r3})

	// An empty value is a value.
	r4 := mustTxn(t, s, store.Put("/empty", nil, store.ExpectAbsent))
	wantKV(t, mustGet(t, s, "/empty"), store.KV{Key: "/empty", Value: nil, CreateRevision: r4, ModRevision: r4})
}

func testRevisions(t *testing.T, s store.Store) {
	before := currentRev(t, s)
	r := mustTxn(t, s,
		store.Put("/r/c", []byte("c"), store.ExpectAbsent),
		store.Put("/r/a", []byte("a"), store.ExpectAbsent),
		store.Put("/r/b", []byte("b"), store.ExpectAbsent),
	)
	if r != before+1 {
		t.Fatalf("txn revision = %d, want current %d + 1", r, before)
	}
	for _, k := range []string{"/r/a", "/r/b", "/r/c"} {
		kv := mustGet(t, s, k)
		if kv.CreateRevision != r || kv.ModRevision != r {
			t.Errorf("%s: create=%d mod=%d, want both %d (all ops of a txn share its revision)", k, kv.CreateRevision, kv.ModRevision, r)
		}
	}
	if got := currentRev(t, s); got != r {
		t.Fatalf("store revision after txn = %d, want %d", got, r)
	}

	r2 := mustTxn(t, s, store.Put("/r/a", []byte("a2"), r), store.Delete("/r/b", r))
	if r2 != r+1 {
		t.Fatalf("revision = %d, want %d", r2, r+1)
	}
	wantKV(t, mustGet(t, s, "/r/a"), store.KV{Key: "/r/a", Value: []byte("a2"), CreateRevision: r, ModRevision: r2})
	wantKV(t, mustGet(t, s, "/r/c"), store.KV{Key: "/r/c", Value: []byte("c"), CreateRevision: r, ModRevision: r})

	// A re-created key gets a new CreateRevision.
	r3 := mustTxn(t, s, store.Put("/r/b", []byte("b2"), store.ExpectAbsent))
	if r3 != r2+1 {
		t.Fatalf("revision = %d, want %d", r3, r2+1)
	}
	wantKV(t, mustGet(t, s, "/r/b"), store.KV{Key: "/r/b", Value: []byte("b2"), CreateRevision: r3, ModRevision: r3})

	// Revisions keep increasing one by one.
	prev := r3
	for i := range 5 {
		got := mustTxn(t, s, store.Put(fmt.Sprintf("/r/seq/%d", i), nil, store.ExpectAny))
		if got != prev+1 {
			t.Fatalf("txn %d: revision = %d, want %d", i, got, prev+1)
		}
		prev = got
	}
}

// testNoChangeTxn: a successful transaction that changes nothing (only
// checks, deletes of absent keys, no ops) returns the current revision and
// does not create a new one.
func testNoChangeTxn(t *testing.T, s store.Store) {
	r := mustTxn(t, s, store.Put("/n/k", []byte("v"), store.ExpectAny))
	cases := []struct {
		name string
		ops  []store.Op
	}{
		{"empty", nil},
		{"check", []store.Op{store.Check("/n/k", r)}},
		{"check absent", []store.Op{store.Check("/n/none", store.ExpectAbsent)}},
		{"delete absent", []store.Op{store.Delete("/n/none", store.ExpectAny)}},
	}
	for _, tc := range cases {
		got, err := s.Txn(t.Context(), tc.ops...)
		if err != nil {
			t.Fatalf("%s: Txn error = %v", tc.name, err)
		}
		if got != r {
			t.Fatalf("%s: Txn revision = %d, want current revision %d", tc.name, got, r)
		}
	}
	if got := mustTxn(t, s, store.Put("/n/k", []byte("w"), r)); got != r+1 {
		t.Fatalf("next write revision = %d, want %d", got, r+1)
	}
}

func testList(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustTxn(t, s,
		store.Put("/l/b", []byte("b"), store.ExpectAbsent),
		store.Put("/l/a", []byte("a"), store.ExpectAbsent),
		store.Put("/l/c/deep", []byte("cd"), store.ExpectAbsent),
		store.Put("/l", []byte("parent"), store.ExpectAbsent),
		store.Put("/l0", []byte("sibling"), store.ExpectAbsent),
		store.Put("/k", []byte("before"), store.ExpectAbsent),
	)
	rev := mustTxn(t, s, store.Put("/l/a", []byte("a2"), store.ExpectAny))

	kvs, lrev, err := s.List(ctx, "/l/", store.ListOptions{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if lrev != rev {
		t.Errorf("List revision = %d, want %d", lrev, rev)
	}
	wantKeys(t, kvs, "/l/a", "/l/b", "/l/c/deep")
	if string(kvs[0].Value) != "a2" || kvs[0].ModRevision != rev || kvs[0].CreateRevision != rev-1 {
		t.Errorf("List /l/a = %+v, want value a2 mod %d create %d", kvs[0], rev, rev-1)
	}

	kvs, _, err = s.List(ctx, "/l", store.ListOptions{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	wantKeys(t, kvs, "/l", "/l/a", "/l/b", "/l/c/deep", "/l0")

	kvs, _, err = s.List(ctx, "", store.ListOptions{})
	if err != nil {
		t.Fatalf("List all: %v", err)
	}
	wantKeys(t, kvs, "/k", "/l", "/l/a", "/l/b", "/l/c/deep", "/l0")

	kvs, lrev, err = s.List(ctx, "/nothing/", store.ListOptions{})
	if err != nil {
		t.Fatalf("List empty: %v", err)
	}
	if len(kvs) != 0 || lrev != rev {
		t.Errorf("List empty prefix = %d keys at revision %d, want 0 at %d", len(kvs), lrev, rev)
	}

	// After sorting before the prefix does not widen the listing.
	kvs, _, err = s.List(ctx, "/l/", store.ListOptions{After: "/a"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	wantKeys(t, kvs, "/l/a", "/l/b", "/l/c/deep")
	// After sorting past the prefix gives nothing.
	kvs, _, err = s.List(ctx, "/l/", store.ListOptions{After: "/m"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	wantKeys(t, kvs)
	// After need not be an existing key.
	kvs, _, err = s.List(ctx, "/l/", store.ListOptions{After: "/l/aa"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	wantKeys(t, kvs, "/l/b", "/l/c/deep")
}

func testListPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	var ops []store.Op
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("/p/%03d", i)
		want = append(want, k)
		ops = append(ops, store.Put(k, []byte(k), store.ExpectAbsent))
	}
	ops = append(ops, store.Put("/q/000", nil, store.ExpectAbsent))
	rev := mustTxn(t, s, ops...)

	for _, limit := range []int{1, 7, 25, 100} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatalf("limit %d: paging does not terminate", limit)
			}
			kvs, lrev, err := s.List(ctx, "/p/", store.ListOptions{After: after, Limit: limit})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if lrev != rev {
				t.Fatalf("List revision = %d, want %d", lrev, rev)
			}
			if len(kvs) > limit {
				t.Fatalf("limit %d: got %d keys", limit, len(kvs))
			}
			for _, kv := range kvs {
				got = append(got, kv.Key)
				if string(kv.Value) != kv.Key {
					t.Fatalf("%s: value %q", kv.Key, kv.Value)
				}
			}
			if len(kvs) < limit {
				break
			}
			after = kvs[len(kvs)-1].Key
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("limit %d: paged keys = %v, want %v", limit, got, want)
		}
	}
}

func testCAS(t *testing.T, s store.Store) {
	r := mustTxn(t, s, store.Put("/cas/k", []byte("v"), store.ExpectAbsent))
	mustTxn(t, s, store.Put("/cas/other", []byte("o"), store.ExpectAbsent))
	tests := []struct {
		name     string
		op       store.Op
		conflict bool
	}{
		{"absent on existing", store.Put("/cas/k", []byte("x"), store.ExpectAbsent), true},
		{"stale revision", store.Put("/cas/k", []byte("x"), r-1), true},
		{"newer revision", store.Put("/cas/k", []byte("x"), r+1), true},
		{"revision on missing key", store.Put("/cas/missing", []byte("x"), r), true},
		{"absent on missing", store.Put("/cas/new", []byte("n"), store.ExpectAbsent), false},
		{"exact revision", store.Put("/cas/k", []byte("v2"), r), false},
		{"any on existing", store.Put("/cas/other", []byte("o2"), store.ExpectAny), false},
		{"any on missing", store.Put("/cas/any", []byte("a"), store.ExpectAny), false},
	}
	for _, tc := range tests {
		before := currentRev(t, s)
		got, err := s.Txn(t.Context(), tc.op)
		if tc.conflict {
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: error = %v, want ErrConflict", tc.name, err)
			}
			if now := currentRev(t, s); now != before {
				t.Errorf("%s: failed txn moved the revision from %d to %d", tc.name, before, now)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: error = %v", tc.name, err)
			continue
		}
		if got != before+1 {
			t.Errorf("%s: revision = %d, want %d", tc.name, got, before+1)
		}
		kv := mustGet(t, s, tc.op.Key)
		if !bytes.Equal(kv.Value, tc.op.Value) || kv.ModRevision != got {
			t.Errorf("%s: stored %+v, want value %q at %d", tc.name, kv, tc.op.Value, got)
		}
	}
	if _, err := s.Get(t.Context(), "/cas/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("conflicting put created a key: %v", err)
	}
}

// testConflictWritesNothing: one failed expectation anywhere in a txn makes
// the whole txn a no-op.
func testConflictWritesNothing(t *testing.T, s store.Store) {
	r := mustTxn(t, s,
		store.Put("/x/a", []byte("a"), store.ExpectAbsent),
		store.Put("/x/b", []byte("b"), store.ExpectAbsent),
	)
	cases := []struct {
		name string
		ops  []store.Op
	}{
		{"last op fails", []store.Op{
			store.Put("/x/new", []byte("n"), store.ExpectAbsent),
			store.Put("/x/a", []byte("a2"), r),
			store.Delete("/x/b", store.ExpectAny),
			store.Put("/x/b2", []byte("n"), store.ExpectAbsent),
			store.Put("/x/c", []byte("c"), store.ExpectAbsent),
			store.Put("/x/a2", []byte("c"), r+5),
		}},
		{"first op fails", []store.Op{
			store.Put("/x/a", []byte("a2"), store.ExpectAbsent),
			store.Put("/x/new", []byte("n"), store.ExpectAny),
			store.Delete("/x/b", r),
		}},
		{"check fails", []store.Op{
			store.Put("/x/new", []byte("n"), store.ExpectAny),
			store.Check("/x/b", r-1),
			store.Delete("/x/a", store.ExpectAny),
		}},
		{"delete expectation fails", []store.Op{
			store.Put("/x/new", []byte("n"), store.ExpectAny),
			store.Delete("/x/a", r+1),
		}},
	}
	for _, tc := range cases {
		_, err := s.Txn(t.Context(), tc.ops...)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("%s: error = %v, want ErrConflict", tc.name, err)
		}
		if now := currentRev(t, s); now != r {
			t.Fatalf("%s: failed txn moved the revision from %d to %d", tc.name, r, now)
		}
		kvs, _, err := s.List(t.Context(), "/x/", store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantKeys(t, kvs, "/x/a", "/x/b")
		for _, kv := range kvs {
			if kv.ModRevision != r || kv.Key[len(kv.Key)-1] != kv.Value[0] || len(kv.Value) != 1 {
				t.Fatalf("%s: %s changed: %+v", tc.name, kv.Key, kv)
			}
		}
	}
	if got := mustTxn(t, s, store.Put("/x/c", nil, store.ExpectAbsent)); got != r+1 {
		t.Fatalf("next revision = %d, want %d", got, r+1)
	}
}

func testCheck(t *testing.T, s store.Store) {
	r := mustTxn(t, s, store.Put("/chk/guard", []byte("g"), store.ExpectAbsent))
	got := mustTxn(t, s,
		store.Check("/chk/guard", r),
		store.Check("/chk/absent", store.ExpectAbsent),
		store.Check("/chk/whatever", store.ExpectAny),
		store.Put("/chk/data", []byte("d"), store.ExpectAbsent),
	)
	if got != r+1 {
		t.Fatalf("revision = %d, want %d", got, r+1)
	}
	// Check writes nothing: the guard keeps its revision.
	wantKV(t, mustGet(t, s, "/chk/guard"), store.KV{Key: "/chk/guard", Value: []byte("g"), CreateRevision: r, ModRevision: r})
	if _, err := s.Get(t.Context(), "/chk/whatever"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Check created a key: %v", err)
	}
	// Once the guard moves, the same check fails.
	mustTxn(t, s, store.Put("/chk/guard", []byte("g2"), store.ExpectAny))
	_, err := s.Txn(t.Context(), store.Check("/chk/guard", r), store.Put("/chk/data", []byte("x"), store.ExpectAny))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale check: error = %v, want ErrConflict", err)
	}
	if kv := mustGet(t, s, "/chk/data"); string(kv.Value) != "d" {
		t.Fatalf("stale check wrote: %q", kv.Value)
	}
	_, err = s.Txn(t.Context(), store.Check("/chk/absent-too", r))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("check of revision on a missing key: error = %v, want ErrConflict", err)
	}
}

func testDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustTxn(t, s,
		store.Put("/d/a", []byte("a"), store.ExpectAbsent),
		store.Put("/d/b", []byte("b"), store.ExpectAbsent),
	)
	tests := []struct {
		name     string
		op       store.Op
		conflict bool
		bumps    bool
	}{
		{"wrong revision", store.Delete("/d/a", r+7), true, false},
		{"expect absent on existing", store.Delete("/d/a", store.ExpectAbsent), true, false},
		{"exact revision", store.Delete("/d/a", r), false, true},
		{"any", store.Delete("/d/b", store.ExpectAny), false, true},
		{"absent with any", store.Delete("/d/never", store.ExpectAny), false, false},
		{"already deleted with any", store.Delete("/d/a", store.ExpectAny), false, false},
		{"absent with revision", store.Delete("/d/never", r), true, false},
	}
	for _, tc := range tests {
		before := currentRev(t, s)
		got, err := s.Txn(ctx, tc.op)
		switch {
		case tc.conflict:
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("%s: error = %v, want ErrConflict", tc.name, err)
			}
		case err != nil:
			t.Errorf("%s: error = %v", tc.name, err)
		case tc.bumps && got != before+1:
			t.Errorf("%s: revision = %d, want %d", tc.name, got, before+1)
		case !tc.bumps && got != before:
			t.Errorf("%s: revision = %d, want unchanged %d", tc.name, got, before)
		}
		after := currentRev(t, s)
		if tc.bumps != (after == before+1) || after < before || after > before+1 {
			t.Errorf("%s: store revision went from %d to %d", tc.name, before, after)
		}
	}
	for _, k := range []string{"/d/a", "/d/b"} {
		if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%s) after delete: %v, want ErrNotFound", k, err)
		}
	}
	kvs, _, err := s.List(ctx, "/d/", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantKeys(t, kvs)
}

func testDuplicateKey(t *testing.T, s store.Store) {
	before := currentRev(t, s)
	_, err := s.Txn(t.Context(),
		store.Put("/dup/other", []byte("o"), store.ExpectAny),
		store.Put("/dup/k", []byte("1"), store.ExpectAny),
		store.Delete("/dup/k", store.ExpectAny),
	)
	if err == nil {
		t.Fatal("txn naming a key twice succeeded, want an error")
	}
	if now := currentRev(t, s); now != before {
		t.Fatalf("rejected txn moved the revision from %d to %d", before, now)
	}
	if _, err := s.Get(t.Context(), "/dup/other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rejected txn wrote: %v", err)
	}
}

func testClosedErrors(t *testing.T, s store.Store) {
	mustTxn(t, s, store.Put("/c/k", []byte("v"), store.ExpectAny))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	if _, err := s.Get(ctx, "/c/k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, _, err := s.List(ctx, "/c/", store.ListOptions{}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("List after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Txn(ctx, store.Put("/c/k", nil, store.ExpectAny)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Txn after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Watch(ctx, "/c/", 0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func mustTxn(t testing.TB, s store.Store, ops ...store.Op) int64 {
	t.Helper()
	rev, err := s.Txn(context.Background(), ops...)
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	return rev
}

func mustGet(t testing.TB, s store.Store, key string) store.KV {
	t.Helper()
	kv, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return kv
}

func currentRev(t testing.TB, s store.Store) int64 {
	t.Helper()
	_, rev, err := s.List(context.Background(), revProbe, store.ListOptions{Limit: 1})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return rev
}

func wantKV(t testing.TB, got, want store.KV) {
	t.Helper()
	if got.Key != want.Key || !bytes.Equal(got.Value, want.Value) ||
		got.CreateRevision != want.CreateRevision || got.ModRevision != want.ModRevision {
		t.Fatalf("got %s, want %s", fmtKV(got), fmtKV(want))
	}
}

func wantKeys(t testing.TB, kvs []store.KV, keys ...string) {
	t.Helper()
	got := make([]string, len(kvs))
	for i, kv := range kvs {
		got[i] = kv.Key
	}
	if strings.Join(got, "\n") != strings.Join(keys, "\n") || len(got) != len(keys) {
		t.Fatalf("keys = %q, want %q", got, keys)
	}
}

func fmtKV(kv store.KV) string {
	v := string(kv.Value)
	if len(v) > 40 {
		v = fmt.Sprintf("%d bytes", len(kv.Value))
	}
	return fmt.Sprintf("{%q %q create=%d mod=%d}", kv.Key, v, kv.CreateRevision, kv.ModRevision)
}
