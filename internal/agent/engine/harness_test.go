package engine

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/berth/berth/internal/agent/statedb"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

const testImage = "berth.test/busybox:latest"

// harness runs an Engine over fakes; restart builds a new Engine over the
// same store, runtime and network, as an agent restart would.
type harness struct {
	t      testing.TB
	clock  *fakeClock
	rt     *fakeRuntime
	net    *fakeNetwork
	rep    *fakeReporter
	store  TaskStore
	cfg    Config
	eng    *Engine
	cancel context.CancelFunc
	runErr chan error
}

func newHarness(t testing.TB, tweak ...func(*Config)) *harness {
	t.Helper()
	clock := newFakeClock()
	h := &harness{
		t: t, clock: clock, rt: newFakeRuntime(clock), net: newFakeNetwork(), rep: &fakeReporter{}, store: statedb.NewMemory(),
		cfg: Config{
			Cluster: "prod", Region: "eu-west-1", DataDir: t.TempDir(), MetadataPort: 51679,
			StopTimeout: 30 * time.Second, CleanupWait: time.Hour, RetryMin: time.Second, RetryMax: time.Minute,
			Clock: clock, Log: testLogger(),
		},
	}
	for _, f := range tweak {
		f(&h.cfg)
	}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start() {
	h.t.Helper()
	eng, err := New(h.cfg, Deps{Runtime: h.rt, Network: h.net, Store: h.store, Reporter: h.rep})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.eng, h.cancel, h.runErr = eng, cancel, make(chan error, 1)
	go func() { h.runErr <- eng.Run(ctx) }()
	select {
	case <-eng.Ready():
	case err := <-h.runErr:
		h.t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("engine not ready")
	}
}

// withStore restarts the engine over another store.
func (h *harness) withStore(s TaskStore) *harness {
	h.stop()
	h.store = s
	h.start()
	return h
}

// stop ends Run (leaving containers running) and waits for it.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.runErr; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.cancel = nil
}

func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

func (h *harness) apply(tasks ...agentproto.Task) {
	h.t.Helper()
	if err := h.eng.Apply(context.Background(), tasks); err != nil {
		h.t.Fatalf("Apply: %v", err)
	}
}

// waitReported waits for a task report of status and returns it.
func (h *harness) waitReported(arn string, status ecs.TaskStatus) TaskChange {
	h.t.Helper()
	var got TaskChange
	waitFor(h.t, "task "+status.String()+" report", func() bool {
		for _, c := range h.rep.taskChanges(arn) {
			if c.Status == status {
				got = c
				return true
			}
		}
		return false
	})
	return got
}

// waitKnown waits for the engine's snapshot of a task to reach status.
func (h *harness) waitKnown(arn string, status ecs.TaskStatus) TaskSnapshot {
	h.t.Helper()
	var s TaskSnapshot
	waitFor(h.t, "task known "+status.String(), func() bool {
		var ok bool
		s, ok = h.eng.Task(arn)
		return ok && s.KnownStatus >= status
	})
	return s
}

// waitCalls waits until the runtime has recorded n calls with prefix.
func (h *harness) waitCalls(prefix string, n int) []string {
	h.t.Helper()
	var calls []string
	waitFor(h.t, "runtime calls "+prefix, func() bool {
		calls = h.rt.callsOf(prefix)
		return len(calls) >= n
	})
	return calls
}

// advanceUntil moves the clock by step until cond holds.
func (h *harness) advanceUntil(what string, step time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s, _ := h.eng.Task(taskARN("t1"))
			h.t.Fatalf("timed out advancing the clock until %s (clock %v, calls %v, t1 %+v)", what, h.clock.Now(), h.rt.allCalls(), s)
		}
		h.clock.Advance(step)
		time.Sleep(time.Millisecond)
	}
}

// testLogger discards logs unless BERTH_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("BERTH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func taskARN(id string) string { return "arn:aws:ecs:eu-west-1:123456789012:task/prod/" + id }

func payload(id string, containers ...agentproto.Container) agentproto.Task {
	return agentproto.Task{
		ARN: taskARN(id), TaskClusterARN: "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
		Family: "web", Version: "3", DesiredStatus: "RUNNING", NetworkMode: "bridge", LaunchType: "EC2",
		Containers: containers,
	}
}

func ctr(name string, essential bool) agentproto.Container {
	return agentproto.Container{Name: name, Image: testImage, Essential: essential, CPU: 10, Memory: 64}
}

func rid(taskID, name string) string { return containerID(taskID, name) }
