package etcd

import (
	"context"
	"errors"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/etcd/etcdtest"
	"github.com/berth/berth/internal/store/storetest"
)

// wipe deletes every key on the server, so that the next store starts empty.
func wipe(t testing.TB, cli *clientv3.Client) {
	t.Helper()
	if _, err := cli.Delete(context.Background(), "\x00", clientv3.WithFromKey()); err != nil {
		t.Fatalf("wipe: %v", err)
	}
}

func TestConformance(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	for _, prefix := range []string{"/berth", ""} {
		t.Run(fmt.Sprintf("prefix=%q", prefix), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				wipe(t, cli)
				// Something outside the namespace must stay invisible.
				if prefix != "" {
					if _, err := cli.Put(context.Background(), "/other/k", "v"); err != nil {
						t.Fatal(err)
					}
				}
				return New(cli, prefix)
			})
		})
	}
}

func TestNamespace(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	a, b := New(cli, "/a"), New(cli, "/b")
	rev, err := a.Txn(t.Context(), store.Put("/k", []byte("in a"), store.ExpectAbsent))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), "/k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b sees a's key: %v", err)
	}
	resp, err := cli.Get(t.Context(), "/a/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "in a" || resp.Kvs[0].ModRevision != rev {
		t.Fatalf("raw etcd key /a/k = %v, %v", resp, err)
	}
	kvs, _, err := b.List(t.Context(), "", store.ListOptions{})
	if err != nil || len(kvs) != 0 {
		t.Fatalf("b lists %v, %v", kvs, err)
	}
}

func TestCompaction(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	s := New(cli, "/c")
	defer s.Close()
	var revs []int64
	for i := range 6 {
		rev, err := s.Txn(t.Context(), store.Put("/k", []byte(fmt.Sprint(i)), store.ExpectAny))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	compactAt := revs[3]
	if _, err := cli.Compact(t.Context(), compactAt); err != nil {
		t.Fatal(err)
	}
	for _, from := range []int64{1, revs[0], revs[2]} {
		if _, err := s.Watch(t.Context(), "/", from); !errors.Is(err, store.ErrCompacted) {
			t.Errorf("Watch(from %d) after compaction at %d: error = %v, want ErrCompacted", from, compactAt, err)
		}
	}
	ch, err := s.Watch(t.Context(), "/", revs[4])
	if err != nil {
		t.Fatalf("Watch(from %d): %v", revs[4], err)
	}
	for _, want := range revs[4:] {
		ev := <-ch
		if ev.KV.ModRevision != want {
			t.Fatalf("event at %d, want %d", ev.KV.ModRevision, want)
		}
	}
}

func BenchmarkStore(b *testing.B) {
	cli := etcdtest.StartWith(b, etcdtest.Options{Durable: true}).Client(b)
	storetest.RunBenchmarks(b, func(b *testing.B) store.Store {
		wipe(b, cli)
		return New(cli, "/bench")
	})
}
