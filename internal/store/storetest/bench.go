package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/berth/berth/internal/store"
)

// benchValue is the size of a typical stored record (a small JSON object).
var benchValue = make([]byte, 256)

// RunBenchmarks runs the standard benchmarks against fresh stores from open
// (one per benchmark): a one-Put transaction, Get, a List of 100 keys, and
// parallel Txn throughput with many concurrent writers (where a backend
// that batches commits shows it).
func RunBenchmarks(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("TxnPut", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Txn(ctx, store.Put(fmt.Sprintf("/bench/put/%04d", i%1000), benchValue, store.ExpectAny)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Get", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		ctx := context.Background()
		fill(b, s, "/bench/get/", 1000)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, fmt.Sprintf("/bench/get/%04d", i%1000)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("List100", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		ctx := context.Background()
		fill(b, s, "/bench/list/", 100)
		fill(b, s, "/bench/other/", 1000)
		b.ReportAllocs()
		for b.Loop() {
			kvs, _, err := s.List(ctx, "/bench/list/", store.ListOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if len(kvs) != 100 {
				b.Fatalf("listed %d keys", len(kvs))
			}
		}
	})
	b.Run("TxnParallel", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		ctx := context.Background()
		var worker atomic.Int64
		b.SetParallelism(32)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			w := worker.Add(1)
			i := 0
			for pb.Next() {
				k := fmt.Sprintf("/bench/par/%03d/%04d", w, i%1000)
				if _, err := s.Txn(ctx, store.Put(k, benchValue, store.ExpectAny)); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// fill writes n keys under prefix, 100 per transaction.
func fill(b *testing.B, s store.Store, prefix string, n int) {
	b.Helper()
	var ops []store.Op
	for i := range n {
		ops = append(ops, store.Put(fmt.Sprintf("%s%04d", prefix, i), benchValue, store.ExpectAny))
		if len(ops) == 100 || i == n-1 {
			if _, err := s.Txn(context.Background(), ops...); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
}
