package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/embedded"
)

// placeTestHandler is a Handler over a fresh store holding cluster "c"
// with ACTIVE instances i1 and i2.
func placeTestHandler(t *testing.T) (*Handler, context.Context) {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	h := New(Config{Store: st, Namer: arn.Namer{Region: "us-east-1", Account: "000000000000"}})
	now := time.Now()
	ops := []store.Op{}
	put := func(key string, v any) {
		op, err := state.PutOp(key, v, store.ExpectAbsent)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	put(state.ClusterKey("c"), ecs.Cluster{Name: "c", Status: ecs.ClusterActive})
	for _, id := range []string{"i1", "i2"} {
		put(state.InstanceKey("c", id), ecs.ContainerInstance{ID: id, ARN: h.namer.ContainerInstance("c", id), Cluster: "c", Status: ecs.InstanceActive,
			RegisteredResources: []ecs.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 1024}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1024}},
			AgentConnected:      true, AgentSeenAt: now})
	}
	if _, err := st.Txn(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	return h, ctx
}

// Two placements decided over the same snapshot cannot both commit when
// they use the same instance: the second fails with a conflict (and
// re-places over a fresh snapshot); on different instances both commit.
func TestCommitNewTasksGuardsEachInstance(t *testing.T) {
	h, ctx := placeTestHandler(t)
	task := func(id, inst string) ecs.Task {
		return ecs.Task{ID: id, Cluster: "c", ContainerInstanceID: inst, LastStatus: ecs.TaskPending, DesiredStatus: ecs.TaskRunning}
	}
	tests := []struct {
		name         string
		first, other string // instances of the two placements
		conflict     bool
	}{
		{"same instance, first placement ever", "i1", "i1", true},
		{"same instance again", "i1", "i1", true},
		{"different instances", "i1", "i2", false},
	}
	n := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := h.placementSnapshot(ctx, "c", true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := h.placementSnapshot(ctx, "c", true)
			if err != nil {
				t.Fatal(err)
			}
			n++
			if err := h.commitNewTasks(ctx, "c", a, []ecs.Task{task("a"+string(rune('0'+n)), tt.first)}); err != nil {
				t.Fatalf("first commit: %v", err)
			}
			err = h.commitNewTasks(ctx, "c", b, []ecs.Task{task("b"+string(rune('0'+n)), tt.other)})
			if got := errors.Is(err, store.ErrConflict); got != tt.conflict {
				t.Fatalf("second commit: %v, want conflict=%v", err, tt.conflict)
			}
		})
	}
	// A fresh snapshot sees what was committed.
	snap, err := h.placementSnapshot(ctx, "c", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(snap.candidates()[0].Tasks); got != 3 {
		t.Errorf("i1 holds %d tasks in a fresh snapshot, want 3", got)
	}
}

// A change of the instance record (drained, deregistered, new attributes)
// or of the cluster also fails the commit.
func TestCommitNewTasksChecksInstanceAndCluster(t *testing.T) {
	h, ctx := placeTestHandler(t)
	for _, key := range []string{state.InstanceKey("c", "i1"), state.ClusterKey("c")} {
		snap, err := h.placementSnapshot(ctx, "c", true)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := h.store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.store.Txn(ctx, store.Put(key, kv.Value, kv.ModRevision)); err != nil {
			t.Fatal(err)
		}
		err = h.commitNewTasks(ctx, "c", snap, []ecs.Task{{ID: "t-" + key[1:4], Cluster: "c", ContainerInstanceID: "i1"}})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("commit after %s changed: %v, want a conflict", key, err)
		}
	}
}

// The trimmed task records of the cluster view keep everything placement
// derives from a task record.
func TestTrimmedTaskKeepsWhatPlacementReads(t *testing.T) {
	ptr := func(n int) *int { return &n }
	ci := ecs.ContainerInstance{ID: "i1", Cluster: "c", RegisteredResources: []ecs.Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: 4096}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 4096}}}
	att := ecs.NewENIAttachment(ecs.ENIAttachment{ID: "a", NetworkInterfaceID: "eni-1", InstanceID: "i1", Region: "r", Address: netip.MustParseAddr("10.0.0.2")})
	tasks := []ecs.Task{
		{ID: "t1", Cluster: "c", ContainerInstanceID: "i1", LastStatus: ecs.TaskRunning, Group: "service:web", ServiceName: "web",
			Definition: ecs.TaskDefinition{Family: "web", Memory: "1024", Revision: 3, ContainerDefinitions: []ecs.ContainerDefinition{
				{Name: "a", Image: "x", CPU: 100, MemoryReservation: ptr(64), PortMappings: []ecs.PortMapping{{ContainerPort: ptr(80), HostPort: ptr(8080)}}},
				{Name: "b", Image: "y", CPU: 28, Memory: ptr(32)}}}},
		{ID: "t2", Cluster: "c", ContainerInstanceID: "i1", LastStatus: ecs.TaskPending, Attachments: []ecs.Attachment{att},
			Ports:      []ecs.PortAssignment{{Container: "a", ContainerPort: 53, HostPort: 49153, Protocol: "udp"}},
			Definition: ecs.TaskDefinition{Family: "dns", CPU: "256", NetworkMode: ecs.NetworkModeHost, ContainerDefinitions: []ecs.ContainerDefinition{{Name: "a", Memory: ptr(128)}}}},
	}
	var viewed []ecs.Task
	for _, full := range tasks {
		b, err := json.Marshal(full)
		if err != nil {
			t.Fatal(err)
		}
		var v ecs.Task
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		viewed = append(viewed, clusterview.Trim(v))
	}
	ptrs := func(ts []ecs.Task) []*ecs.Task {
		out := make([]*ecs.Task, len(ts))
		for i := range ts {
			out[i] = &ts[i]
		}
		return out
	}
	if a, b := ecs.ComputeInstanceLoad(&ci, ptrs(tasks)), ecs.ComputeInstanceLoad(&ci, ptrs(viewed)); !reflect.DeepEqual(a, b) {
		t.Errorf("load from the view %+v, from the record %+v", b, a)
	}
	now := time.Now()
	ci.AgentConnected, ci.AgentSeenAt = true, now
	if a, b := ciSchedulerInstance(&ci, ptrs(tasks), now), ciSchedulerInstance(&ci, ptrs(viewed), now); !reflect.DeepEqual(a, b) {
		t.Errorf("scheduler instance from the view %+v, from the record %+v", b, a)
	}
	if addr, ok := ecs.TaskAwsvpcAddress(&viewed[1]); !ok || addr.String() != "10.0.0.2" {
		t.Errorf("awsvpc address from the view: %v %v", addr, ok)
	}
}
