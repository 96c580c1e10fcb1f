package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
	"github.com/berth/berth/internal/state"
)

// viewPlaceTestHandler is placeTestHandler with a running cluster view, as
// the server has: placement snapshots then come from the placement bases.
func viewPlaceTestHandler(t *testing.T) (*Handler, context.Context) {
	t.Helper()
	h, ctx := placeTestHandler(t)
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	h.view = clusterview.New(h.store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go h.view.Run(ctx)
	return h, ctx
}

// Placement attempts over an unchanged cluster share one snapshot; a change
// of one instance rebuilds only that instance's base.
func TestPlacementSnapshotShared(t *testing.T) {
	h, ctx := viewPlaceTestHandler(t)
	a, err := h.placementSnapshot(ctx, "c", true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.placementSnapshot(ctx, "c", true)
	if err != nil {
		t.Fatal(err)
	}
	if a.shared != b.shared {
		t.Fatal("two snapshots of an unchanged cluster do not share their instances")
	}
	task := ecs.Task{ID: "t1", Cluster: "c", ContainerInstanceID: "i2", LastStatus: ecs.TaskPending, DesiredStatus: ecs.TaskRunning,
		Definition: ecs.TaskDefinition{CPU: "256", Memory: "128"}}
	if err := h.commitNewTasks(ctx, "c", a, []ecs.Task{task}); err != nil {
		t.Fatal(err)
	}
	c, err := h.placementSnapshot(ctx, "c", true)
	if err != nil {
		t.Fatal(err)
	}
	if c.shared == a.shared {
		t.Fatal("a snapshot after a commit reuses the snapshot from before it")
	}
	if c.shared.bases[0] != a.shared.bases[0] {
		t.Error("i1 did not change, yet its base was rebuilt")
	}
	if c.shared.bases[1] == a.shared.bases[1] {
		t.Error("i2 holds a new task, yet its base was kept")
	}
	i2 := c.candidates()[1]
	if i2.ID != "i2" || len(i2.Tasks) != 1 || i2.CPU != 1024-256 || i2.Memory != 1024-128 {
		t.Errorf("i2 in the new snapshot: %+v, want one task holding 256 CPU and 128 MiB", i2)
	}
	if si := c.instance("i2"); si.placements != 1 || si.placementRev == 0 {
		t.Errorf("i2's placement record in the new snapshot: %d at %d, want 1 at a revision", si.placements, si.placementRev)
	}
}

// What one attempt takes or allocates is its own: neither the shared
// snapshot nor another attempt over it sees it.
func TestPlacementSnapshotCopyOnWrite(t *testing.T) {
	h, ctx := viewPlaceTestHandler(t)
	a, err := h.placementSnapshot(ctx, "c", true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.placementSnapshot(ctx, "c", true)
	if err != nil {
		t.Fatal(err)
	}
	l := &taskLaunch{req: scheduler.Request{CPU: 100, Memory: 200}}
	task := ecs.Task{ID: "t1", Group: "g", Ports: []ecs.PortAssignment{{HostPort: 8080, Protocol: "tcp"}}}
	i, ok := a.candidate("i1")
	if !ok {
		t.Fatal("i1 is no candidate")
	}
	a.take(i, l, &task)
	si := a.mutableInstance("i1")
	si.useAddress(si.cidr.Addr())

	got := a.candidates()[i]
	if got.CPU != 1024-100 || got.Memory != 1024-200 || !got.UsedPorts[scheduler.Port{Number: 8080, Protocol: "tcp"}] || len(got.Tasks) != 1 {
		t.Errorf("i1 in the attempt that placed on it: %+v", got)
	}
	if !a.instance("i1").usedAddrs[si.cidr.Addr()] {
		t.Error("the attempt does not see the address it used")
	}
	for name, s := range map[string]*taskSnapshot{"other attempt": b, "new attempt": newTaskSnapshot(0, a.shared)} {
		in := s.candidates()[i]
		if in.CPU != 1024 || in.Memory != 1024 || len(in.UsedPorts) != 0 || len(in.Tasks) != 0 {
			t.Errorf("%s sees i1 as %+v, want it untouched", name, in)
		}
		if len(s.instance("i1").usedAddrs) != 0 {
			t.Errorf("%s sees the address another attempt used", name)
		}
	}
}

// The shared snapshot is rebuilt once an agent's connection may have gone
// stale, even when no record changed, so that a silent agent gets no
// placements.
func TestPlacementSnapshotAgentGoesStale(t *testing.T) {
	h, ctx := viewPlaceTestHandler(t)
	seen := time.Now() // placeTestHandler's agents were last heard about now
	start := seen.Add(time.Minute)
	h.now = func() time.Time { return start }
	a, err := h.placementSnapshot(ctx, "c", true)
	if err != nil {
		t.Fatal(err)
	}
	if !a.candidates()[0].AgentConnected {
		t.Fatal("i1's agent is not connected at first")
	}
	h.now = func() time.Time { return seen.Add(ciAgentStaleAfter + time.Second) }
	b, err := h.placementSnapshot(ctx, "c", true)
	if err != nil {
		t.Fatal(err)
	}
	if b.candidates()[0].AgentConnected {
		t.Error("i1's agent, silent for longer than the stale limit, still counts as connected")
	}
}

// Whatever happens to a cluster, the snapshot the placement bases keep up
// to date (patched instance by instance) equals one built afresh.
func TestPlacementSnapshotPatchedEqualsFresh(t *testing.T) {
	h, ctx := viewPlaceTestHandler(t)
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"i1", "i2"}
	setStatus := func(id string, st ecs.ContainerInstanceStatus) {
		ci, rev, err := state.Get[ecs.ContainerInstance](ctx, h.store, state.InstanceKey("c", id))
		if err != nil {
			t.Fatal(err)
		}
		ci.Status = st
		put, err := state.PutOp(state.InstanceKey("c", id), ci, rev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.store.Txn(ctx, put); err != nil {
			t.Fatal(err)
		}
	}
	for step := range 60 {
		switch op := rng.IntN(10); {
		case op < 6: // a task lands somewhere
			snap, err := h.placementSnapshot(ctx, "c", true)
			if err != nil {
				t.Fatal(err)
			}
			id := ids[rng.IntN(len(ids))]
			task := ecs.Task{ID: fmt.Sprintf("t%d", step), Cluster: "c", ContainerInstanceID: id, LastStatus: ecs.TaskPending,
				DesiredStatus: ecs.TaskRunning, Definition: ecs.TaskDefinition{CPU: "10", Memory: "10"}}
			if err := h.commitNewTasks(ctx, "c", snap, []ecs.Task{task}); err != nil {
				t.Fatal(err)
			}
		case op < 8: // drained, reactivated or deregistered
			setStatus(ids[rng.IntN(len(ids))], []ecs.ContainerInstanceStatus{ecs.InstanceDraining, ecs.InstanceActive, ecs.InstanceInactive}[rng.IntN(3)])
		default: // a new instance joins
			id := fmt.Sprintf("i%d", len(ids)+1)
			ids = append(ids, id)
			ci := ecs.ContainerInstance{ID: id, ARN: h.namer.ContainerInstance("c", id), Cluster: "c", Status: ecs.InstanceActive,
				RegisteredResources: []ecs.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1024}},
				AgentConnected:      true, AgentSeenAt: time.Now()}
			put, err := state.PutOp(state.InstanceKey("c", id), ci, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.store.Txn(ctx, put); err != nil {
				t.Fatal(err)
			}
		}
		got, err := h.placementSnapshot(ctx, "c", true)
		if err != nil {
			t.Fatal(err)
		}
		var fresh *sharedSnapshot
		if err := h.view.Read(ctx, "c", 0, func(c *clusterview.Cluster) {
			if c.Gen() == got.shared.gen {
				fresh = newPlacementBases().snapshot("c", c, h.now())
			}
		}); err != nil {
			t.Fatal(err)
		}
		if fresh == nil {
			continue // the view moved on meanwhile (never, with one writer)
		}
		if !reflect.DeepEqual(got.shared.cands, fresh.cands) || !reflect.DeepEqual(got.shared.cand, fresh.cand) {
			t.Fatalf("step %d: kept snapshot's candidates\n%+v\nfresh\n%+v", step, got.shared.cands, fresh.cands)
		}
		for i := range fresh.bases {
			if g, f := got.shared.bases[i].si, fresh.bases[i].si; g.rev != f.rev || g.placements != f.placements || g.placementRev != f.placementRev || g.ci.Status != f.ci.Status {
				t.Fatalf("step %d: instance %s kept %+v, fresh %+v", step, fresh.ids[i], g, f)
			}
		}
	}
}
