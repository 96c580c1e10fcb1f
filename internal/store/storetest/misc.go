package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/berth/berth/internal/store"
)

// testConcurrentIncrements: goroutines doing read-modify-write with CAS and
// retry on conflict lose no update, and a watcher sees every value once.
func testConcurrentIncrements(t *testing.T, s store.Store) {
	const (
		workers = 8
		each    = 20
		key     = "/conc/counter"
	)
	r0 := mustTxn(t, s, store.Put(key, []byte("0"), store.ExpectAbsent))
	ch := watch(t, s, key, 0)

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		revs = map[int64]bool{}
		errc = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := t.Context()
			for range each {
				for attempt := 0; ; attempt++ {
					if attempt > 100000 {
						errc <- fmt.Errorf("worker %d: no progress", w)
						return
					}
					kv, err := s.Get(ctx, key)
					if err != nil {
						errc <- err
						return
					}
					n, err := strconv.Atoi(string(kv.Value))
					if err != nil {
						errc <- fmt.Errorf("counter value %q: %w", kv.Value, err)
						return
					}
					rev, err := s.Txn(ctx, store.Put(key, []byte(strconv.Itoa(n+1)), kv.ModRevision))
					if errors.Is(err, store.ErrConflict) {
						continue
					}
					if err != nil {
						errc <- err
						return
					}
					mu.Lock()
					dup := revs[rev]
					revs[rev] = true
					mu.Unlock()
					if dup {
						errc <- fmt.Errorf("revision %d returned twice", rev)
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	const total = workers * each
	kv := mustGet(t, s, key)
	if string(kv.Value) != strconv.Itoa(total) {
		t.Fatalf("counter = %s, want %d (lost updates)", kv.Value, total)
	}
	if kv.CreateRevision != r0 || kv.ModRevision != r0+total {
		t.Fatalf("counter create=%d mod=%d, want %d and %d", kv.CreateRevision, kv.ModRevision, r0, r0+total)
	}
	for i := 1; i <= total; i++ {
		ev := recvOne(t, ch)
		if ev.Type != store.EventPut || string(ev.KV.Value) != strconv.Itoa(i) || ev.KV.ModRevision != r0+int64(i) {
			t.Fatalf("watch event %d = %s %s", i, typeName(ev.Type), fmtKV(ev.KV))
		}
	}
}

func testLargeValue(t *testing.T, s store.Store) {
	const size = 1 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, size)
	for i := range big {
		big[i] = byte(rng.UintN(256))
	}
	ch := watch(t, s, "/big/", 0)
	r1 := mustTxn(t, s, store.Put("/big/a", big, store.ExpectAbsent))
	big2 := slices.Clone(big)
	big2[0], big2[size-1] = big2[0]+1, big2[size-1]+1
	r2 := mustTxn(t, s, store.Put("/big/a", big2, r1))

	wantKV(t, mustGet(t, s, "/big/a"), store.KV{Key: "/big/a", Value: big2, CreateRevision: r1, ModRevision: r2})
	kvs, _, err := s.List(t.Context(), "/big/", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantKeys(t, kvs, "/big/a")
	wantKV(t, kvs[0], store.KV{Key: "/big/a", Value: big2, CreateRevision: r1, ModRevision: r2})
	expectEvents(t, ch, put("/big/a", string(big), r1, r1), put("/big/a", string(big2), r1, r2))
	hist := watch(t, s, "/big/", r1)
	expectEvents(t, hist, put("/big/a", string(big), r1, r1), put("/big/a", string(big2), r1, r2))
}

// testOddKeys: keys are arbitrary bytes and sort bytewise.
func testOddKeys(t *testing.T, s store.Store) {
	keys := []string{
		"/odd/\x00",
		"/odd/\x00\x01",
		"/odd/\x01",
		"/odd/\x7f",
		"/odd/\xff",
		"/odd/\xff\xff",
		"/odd/\xff\x00",
		"/odd/ü",
		"/odd/a b",
		"/odd/new\nline",
		"/odd/%2F..//",
		"/odd/" + strings.Repeat("long", 256),
	}
	ch := watch(t, s, "/odd/", 0)
	var ops []store.Op
	for i, k := range keys {
		ops = append(ops, store.Put(k, []byte(strconv.Itoa(i)), store.ExpectAbsent))
	}
	r := mustTxn(t, s, ops...)
	for i, k := range keys {
		wantKV(t, mustGet(t, s, k), store.KV{Key: k, Value: []byte(strconv.Itoa(i)), CreateRevision: r, ModRevision: r})
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	kvs, _, err := s.List(t.Context(), "/odd/", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantKeys(t, kvs, sorted...)

	// Prefixes ending in 0xff and 0x00 are prefixes like any other.
	kvs, _, err = s.List(t.Context(), "/odd/\xff", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantKeys(t, kvs, "/odd/\xff", "/odd/\xff\x00", "/odd/\xff\xff")
	kvs, _, err = s.List(t.Context(), "/odd/\x00", store.ListOptions{After: "/odd/\x00"})
	if err != nil {
		t.Fatal(err)
	}
	wantKeys(t, kvs, "/odd/\x00\x01")

	var want []wantEvent
	for _, k := range sorted {
		want = append(want, put(k, strconv.Itoa(slices.Index(keys, k)), r, r))
	}
	expectEvents(t, ch, want...)

	ff := watch(t, s, "/odd/\xff", 0)
	r2 := mustTxn(t, s, store.Delete("/odd/\xff\x00", r), store.Put("/odd/\xfe", nil, store.ExpectAbsent),
		store.Put("/odd/\xff\xff", []byte("x"), r))
	expectEvents(t, ff, del("/odd/\xff\x00", r2), put("/odd/\xff\xff", "x", r, r2))
}
