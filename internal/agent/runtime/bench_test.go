package runtime

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkCreateStart measures Create+Start until the process runs, with
// the image cached and no network (ECS "none" mode). Removal is untimed.
// It reports the median besides the mean ns/op.
func BenchmarkCreateStart(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	base := newID(b)
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cs := ContainerSpec{ID: fmt.Sprintf("%s-%d", base, i), Image: h.image, Command: []string{"sleep", "1000"}}
		start := time.Now()
		if err := h.r.Create(ctx, cs); err != nil {
			b.Fatal(err)
		}
		if _, err := h.r.Start(ctx, cs.ID); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		if err := h.r.Remove(ctx, cs.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "median-ns/op")
}
