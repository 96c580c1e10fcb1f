package statedb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// backend opens a fresh DB and can reopen it the way an agent restart
// would (for Memory: the same store, since it lives in the process).
type backend struct {
	name string
	open func(t *testing.T) (db DB, reopen func() DB)
}

var backends = []backend{
	{"memory", func(t *testing.T) (DB, func() DB) {
		m := NewMemory()
		return m, func() DB { return m }
	}},
	{"bolt", func(t *testing.T) (DB, func() DB) {
		dir := t.TempDir()
		var cur *Bolt
		open := func() DB {
			b, err := Open(dir)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			cur = b
			return b
		}
		db := open()
		t.Cleanup(func() { cur.Close() })
		return db, func() DB {
			if err := cur.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open()
		}
	}},
}

// TestConformance runs the same checks against every implementation.
func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db DB, reopen func() DB)
	}{
		{"empty", testEmpty},
		{"save load delete", testSaveLoadDelete},
		{"records are copied", testCopies},
		{"survives reopen", testReopen},
		{"instance ARN", testInstanceARN},
		{"cancelled context", testCancelled},
		{"concurrent saves", testConcurrent},
		{"closed", testClosed},
	}
	for _, b := range backends {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				db, reopen := b.open(t)
				tt.fn(t, db, reopen)
			})
		}
	}
}

var ctx = context.Background()

func load(t *testing.T, db DB) map[string]string {
	t.Helper()
	recs, err := db.LoadTasks(ctx)
	if err != nil {
		t.Fatalf("LoadTasks: %v", err)
	}
	out := map[string]string{}
	for k, v := range recs {
		out[k] = string(v)
	}
	return out
}

func testEmpty(t *testing.T, db DB, _ func() DB) {
	if got := load(t, db); len(got) != 0 {
		t.Errorf("new DB has tasks %v", got)
	}
	if arn, err := db.InstanceARN(ctx); err != nil || arn != "" {
		t.Errorf("InstanceARN = %q, %v; want empty", arn, err)
	}
}

func testSaveLoadDelete(t *testing.T, db DB, _ func() DB) {
	must(t, db.SaveTask(ctx, "arn:a", []byte(`{"v":1}`)))
	must(t, db.SaveTask(ctx, "arn:b", []byte(`{"v":2}`)))
	must(t, db.SaveTask(ctx, "arn:a", []byte(`{"v":3}`)))
	want := map[string]string{"arn:a": `{"v":3}`, "arn:b": `{"v":2}`}
	if got := load(t, db); !maps.Equal(got, want) {
		t.Errorf("after saves: %v, want %v", got, want)
	}
	must(t, db.DeleteTask(ctx, "arn:a"))
	must(t, db.DeleteTask(ctx, "arn:missing"))
	if got := load(t, db); !maps.Equal(got, map[string]string{"arn:b": `{"v":2}`}) {
		t.Errorf("after delete: %v", got)
	}
}

func testCopies(t *testing.T, db DB, _ func() DB) {
	rec := []byte("original")
	must(t, db.SaveTask(ctx, "arn:a", rec))
	copy(rec, "MUTATED!")
	recs, err := db.LoadTasks(ctx)
	must(t, err)
	if string(recs["arn:a"]) != "original" {
		t.Fatalf("saved record changed with the caller's slice: %q", recs["arn:a"])
	}
	copy(recs["arn:a"], "MUTATED!")
	if got := load(t, db); got["arn:a"] != "original" {
		t.Errorf("loaded record aliases the store: %q", got["arn:a"])
	}
}

func testReopen(t *testing.T, db DB, reopen func() DB) {
	must(t, db.SaveTask(ctx, "arn:a", []byte("A")))
	must(t, db.SaveTask(ctx, "arn:b", []byte("B")))
	must(t, db.DeleteTask(ctx, "arn:b"))
	must(t, db.SetInstanceARN(ctx, "arn:instance"))
	db = reopen()
	if got := load(t, db); !maps.Equal(got, map[string]string{"arn:a": "A"}) {
		t.Errorf("after reopen: %v", got)
	}
	if arn, err := db.InstanceARN(ctx); err != nil || arn != "arn:instance" {
		t.Errorf("instance ARN after reopen = %q, %v", arn, err)
	}
}

func testInstanceARN(t *testing.T, db DB, _ func() DB) {
	must(t, db.SetInstanceARN(ctx, "arn:one"))
	must(t, db.SetInstanceARN(ctx, "arn:two"))
	if arn, err := db.InstanceARN(ctx); err != nil || arn != "arn:two" {
		t.Errorf("InstanceARN = %q, %v", arn, err)
	}
}

func testCancelled(t *testing.T, db DB, _ func() DB) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.SaveTask(cctx, "arn:a", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("SaveTask with a cancelled context = %v", err)
	}
	if got := load(t, db); len(got) != 0 {
		t.Errorf("cancelled save stored %v", got)
	}
}

func testConcurrent(t *testing.T, db DB, _ func() DB) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				if err := db.SaveTask(ctx, fmt.Sprintf("arn:%d", i), []byte(fmt.Sprint(j))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := load(t, db)
	if len(got) != 8 {
		t.Fatalf("%d records, want 8", len(got))
	}
	for k, v := range got {
		if v != "4" {
			t.Errorf("%s = %q, want the last write", k, v)
		}
	}
}

func testClosed(t *testing.T, db DB, _ func() DB) {
	must(t, db.Close())
	if err := db.SaveTask(ctx, "arn:a", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SaveTask after Close = %v, want ErrClosed", err)
	}
	if _, err := db.LoadTasks(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("LoadTasks after Close = %v, want ErrClosed", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestBoltFileAndLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Path() != filepath.Join(dir, FileName) {
		t.Errorf("Path = %s", b.Path())
	}
	st, err := os.Stat(b.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", st.Mode().Perm())
	}
	defer func(d time.Duration) { openTimeout = d }(openTimeout)
	openTimeout = 50 * time.Millisecond
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("second Open of a held file = %v, want a lock error", err)
	}
}

func TestBoltRejectsNewerSchema(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := Open(dir); err == nil {
		t.Error("Open accepted an unknown schema version")
	}
}

// TestBoltGroupCommitIsolatesFailures: a failing write committed in the
// same batch as good ones fails alone.
func TestBoltGroupCommitIsolatesFailures(t *testing.T) {
	b, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			if i == 7 {
				errs[i] = b.update(ctx, "failing write", func(*bolt.Tx) error { return boom })
				return
			}
			errs[i] = b.SaveTask(ctx, fmt.Sprintf("arn:%d", i), []byte("x"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 7 {
			if !errors.Is(err, boom) {
				t.Errorf("failing write returned %v", err)
			}
		} else if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got := load(t, b); len(got) != 19 {
		t.Errorf("%d records saved, want 19", len(got))
	}
}

// BenchmarkBoltSaveTask measures fsync'd saves, alone and from 64
// concurrent writers (group commit).
func BenchmarkBoltSaveTask(b *testing.B) {
	rec := make([]byte, 4096)
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			b.SetParallelism(writers)
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := db.SaveTask(ctx, fmt.Sprintf("arn:%d", n.Add(1)%500), rec); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}
