package engine

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/berth/berth/internal/agent/statedb"

	"github.com/berth/berth/internal/agentproto"
)

// BenchmarkTaskToRunning measures the engine's own cost of taking a
// one-container task from Apply to its acknowledged RUNNING report, over
// the in-memory fakes (no containers, no disk), 100 tasks per Apply.
func BenchmarkTaskToRunning(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchTaskToRunning(b, newHarness(b)) })
	b.Run("bolt", func(b *testing.B) {
		db, err := statedb.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		benchTaskToRunning(b, newHarness(b, func(*Config) {}).withStore(db))
	})
}

func benchTaskToRunning(b *testing.B, h *harness) {
	const batch = 100
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		tasks := make([]agentproto.Task, 0, batch)
		for i := 0; i < batch; i++ {
			tasks = append(tasks, payload(fmt.Sprintf("b%d-%d", n, i), ctr("app", true)))
		}
		if err := h.eng.Apply(b.Context(), tasks); err != nil {
			b.Fatal(err)
		}
		want := n + batch
		for h.rep.taskReportCount() < want {
			runtime.Gosched()
		}
	}
}
