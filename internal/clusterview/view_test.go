package clusterview

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/embedded"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// digest is what a Cluster holds, comparable.
type digest struct {
	Instances  map[string]int64    // id → rev
	OnInstance map[string][]string // id → active task ids
	// Indexed says whether TasksOn agrees with the tasks themselves.
	Indexed    bool
	Tasks      map[string]int64    // id → rev
	Services   map[string][]string // name → task ids
	Placements map[string][2]int64 // id → n, rev
}

func digestOf(c *Cluster) digest {
	d := digest{Instances: map[string]int64{}, OnInstance: map[string][]string{}, Tasks: map[string]int64{},
		Services: map[string][]string{}, Placements: map[string][2]int64{}}
	if !slices.IsSorted(c.InstanceIDs()) || len(c.InstanceIDs()) != len(c.instances) {
		d.Instances["!ids"] = -1
	}
	for _, id := range c.InstanceIDs() {
		in := c.Instance(id)
		d.Instances[id] = in.Rev
		var ids []string
		for _, t := range in.ActiveTasks(nil) {
			ids = append(ids, t.ID)
		}
		slices.Sort(ids)
		d.OnInstance[id] = ids
	}
	on := map[string][]string{}
	for id, t := range c.tasks {
		d.Tasks[id] = t.Rev
		on[t.Record.ContainerInstanceID] = append(on[t.Record.ContainerInstanceID], id)
	}
	d.Indexed = true
	for inst, ids := range on {
		slices.Sort(ids)
		d.Indexed = d.Indexed && slices.Equal(c.TasksOn(inst), ids)
	}
	for name := range c.services {
		var ids []string
		for _, t := range c.ServiceTasks(name) {
			ids = append(ids, t.Record.ID)
		}
		slices.Sort(ids)
		d.Services[name] = ids
	}
	for id := range c.placements {
		n, rev := c.Placements(id)
		d.Placements[id] = [2]int64{int64(n), rev}
	}
	return d
}

func put(t *testing.T, st store.Store, ops ...store.Op) int64 {
	t.Helper()
	rev, err := st.Txn(context.Background(), ops...)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func jsonOp(t *testing.T, key string, v any) store.Op {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return store.Put(key, b, store.ExpectAny)
}

// The view, fed by the watch, holds after any sequence of writes exactly
// what Load reads from the store at the same revision: instances, active
// tasks per instance, tasks per service and placement records, with
// transactions that change several of them at once.
func TestViewMatchesLoad(t *testing.T) {
	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rng := rand.New(rand.NewPCG(1, 2))
	clusters := []string{"a", "b"}
	// Some records before the view starts: it loads them.
	put(t, st, jsonOp(t, state.InstanceKey("a", "i0"), ecs.ContainerInstance{ID: "i0", Cluster: "a", Status: ecs.InstanceActive}))
	v := New(st, nil)
	done := make(chan struct{})
	go func() { v.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	statuses := []ecs.TaskStatus{ecs.TaskPending, ecs.TaskRunning, ecs.TaskStopped}
	for step := range 300 {
		cl := clusters[rng.IntN(len(clusters))]
		var ops []store.Op
		seen := map[string]bool{}
		for range 1 + rng.IntN(4) {
			var key string
			var op store.Op
			switch k := rng.IntN(10); {
			case k < 2:
				id := fmt.Sprintf("i%d", rng.IntN(6))
				key = state.InstanceKey(cl, id)
				if rng.IntN(8) == 0 {
					op = store.Delete(key, store.ExpectAny)
				} else {
					op = jsonOp(t, key, ecs.ContainerInstance{ID: id, Cluster: cl, Status: ecs.InstanceActive, AgentSeenAt: time.Unix(int64(step), 0)})
				}
			case k < 3:
				id := fmt.Sprintf("i%d", rng.IntN(6))
				key = state.TaskPlacementKey(cl, id)
				op = store.Put(key, []byte(fmt.Sprint(step)), store.ExpectAny)
			default:
				id := fmt.Sprintf("t%d", rng.IntN(40))
				key = state.TaskKey(cl, id)
				if rng.IntN(10) == 0 {
					op = store.Delete(key, store.ExpectAny)
				} else {
					op = jsonOp(t, key, ecs.Task{ID: id, Cluster: cl, ContainerInstanceID: fmt.Sprintf("i%d", rng.IntN(6)),
						ServiceName: []string{"", "web", "db"}[rng.IntN(3)], LastStatus: statuses[rng.IntN(len(statuses))],
						Definition: ecs.TaskDefinition{Family: "f", ContainerDefinitions: []ecs.ContainerDefinition{{Name: "c", Image: "busybox", CPU: 10}}}})
				}
			}
			if !seen[key] {
				seen[key] = true
				ops = append(ops, op)
			}
		}
		rev := put(t, st, ops...)
		if step%7 != 0 {
			continue
		}
		for _, c := range clusters {
			var got digest
			if err := v.Read(ctx, c, rev, func(cv *Cluster) { got = digestOf(cv) }); err != nil {
				t.Fatalf("step %d: Read: %v", step, err)
			}
			loaded, _, err := Load(ctx, st, c)
			if err != nil {
				t.Fatal(err)
			}
			if want := digestOf(loaded); !equalDigest(got, want) {
				t.Fatalf("step %d cluster %s: view\n%+v\nLoad\n%+v", step, c, got, want)
			}
		}
	}
}

func equalDigest(a, b digest) bool {
	eq := func(x, y map[string][]string) bool { return maps.EqualFunc(x, y, slices.Equal[[]string]) }
	return maps.Equal(a.Instances, b.Instances) && eq(a.OnInstance, b.OnInstance) && maps.Equal(a.Tasks, b.Tasks) &&
		eq(a.Services, b.Services) && maps.Equal(a.Placements, b.Placements) && a.Indexed && b.Indexed
}

// Read fails with ErrNotReady when the view is not running, and Trim
// keeps the fields placement and the controller read.
func TestReadNotReadyAndTrim(t *testing.T) {
	v := New(openStore(t), nil)
	v.catchUp = 10 * time.Millisecond
	if err := v.Read(context.Background(), "a", 0, func(*Cluster) {}); err != ErrNotReady {
		t.Fatalf("Read on a view that is not running: %v, want ErrNotReady", err)
	}
	mem := 64
	full := ecs.Task{ID: "t", Group: "g", Tags: []ecs.Tag{{Key: "k", Value: "v"}},
		Definition: ecs.TaskDefinition{Family: "f", CPU: "256", ContainerDefinitions: []ecs.ContainerDefinition{
			{Name: "c", Image: "busybox", Command: []string{"sleep"}, Memory: &mem, HealthCheck: &ecs.HealthCheck{Command: []string{"true"}}}}}}
	tr := Trim(full)
	if tr.Tags != nil || tr.Definition.ContainerDefinitions[0].Image != "" || len(tr.Definition.ContainerDefinitions[0].Command) != 0 {
		t.Errorf("Trim kept what it drops: %+v", tr)
	}
	if tr.Group != "g" || tr.Definition.CPU != "256" || *tr.Definition.ContainerDefinitions[0].Memory != 64 || !tr.Definition.HasHealthCheck() {
		t.Errorf("Trim lost what it keeps: %+v", tr)
	}
}

// TaskAt answers only for the exact revision the view holds of a task,
// and never waits for the view.
func TestTaskAt(t *testing.T) {
	st := openStore(t)
	v := New(st, nil)
	key := state.TaskKey("c", "t1")
	rev1 := put(t, st, jsonOp(t, key, ecs.Task{ID: "t1", Cluster: "c", ContainerInstanceID: "i1", Seq: 1}))
	if _, ok := v.TaskAt("c", "t1", rev1); ok {
		t.Fatal("TaskAt answered before the view ran")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { v.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	rev2 := put(t, st, jsonOp(t, key, ecs.Task{ID: "t1", Cluster: "c", ContainerInstanceID: "i1", Seq: 2}))
	if err := v.Read(ctx, "c", rev2, func(*Cluster) {}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cluster, id string
		rev         int64
		seq         int64 // 0: no answer
	}{
		{"c", "t1", rev2, 2},
		{"c", "t1", rev1, 0}, // the view holds a newer record
		{"c", "t1", rev2 + 1, 0},
		{"c", "t2", rev2, 0},
		{"other", "t1", rev2, 0},
	}
	for _, tc := range cases {
		got, ok := v.TaskAt(tc.cluster, tc.id, tc.rev)
		switch {
		case tc.seq == 0 && ok:
			t.Errorf("TaskAt(%s, %s, %d) = %+v, want no answer", tc.cluster, tc.id, tc.rev, got)
		case tc.seq != 0 && (!ok || got.Seq != tc.seq || got.ContainerInstanceID != "i1"):
			t.Errorf("TaskAt(%s, %s, %d) = %+v, %v; want seq %d on i1", tc.cluster, tc.id, tc.rev, got, ok, tc.seq)
		}
	}
	// A view busy applying does not make TaskAt wait.
	v.mu.Lock()
	_, ok := v.TaskAt("c", "t1", rev2)
	v.mu.Unlock()
	if ok {
		t.Error("TaskAt answered while the view was applying")
	}
}
