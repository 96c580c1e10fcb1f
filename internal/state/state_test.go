package state

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/embedded"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSeqSortsNumerically(t *testing.T) {
	tests := []struct {
		a, b int
	}{{1, 2}, {9, 10}, {99, 100}, {999999999, 1000000000}}
	for _, tt := range tests {
		if !(Seq(tt.a) < Seq(tt.b)) {
			t.Errorf("Seq(%d)=%q does not sort before Seq(%d)=%q", tt.a, Seq(tt.a), tt.b, Seq(tt.b))
		}
	}
}

// Index entries sort as ECS lists definitions: by family name, then revision.
func TestTaskDefStatusKeyOrder(t *testing.T) {
	keys := []string{
		TaskDefStatusKey("ACTIVE", "web", 2),
		TaskDefStatusKey("ACTIVE", "web", 10),
		TaskDefStatusKey("ACTIVE", "web-api", 1),
		TaskDefStatusKey("ACTIVE", "web_x", 1),
		TaskDefStatusKey("ACTIVE", "webx", 1),
	}
	for i := 1; i < len(keys); i++ {
		if !(keys[i-1] < keys[i]) {
			t.Errorf("%q does not sort before %q", keys[i-1], keys[i])
		}
	}
}

func TestParseTaskDefStatusKey(t *testing.T) {
	tests := []struct {
		key    string
		family string
		rev    int
		ok     bool
	}{
		{TaskDefStatusKey("ACTIVE", "web", 12), "web", 12, true},
		{TaskDefStatusKey("ACTIVE", "a-b_c", 1), "a-b_c", 1, true},
		{TaskDefStatusKey("INACTIVE", "web", 1), "", 0, false}, // other status
		{TaskDefStatusPrefix("ACTIVE") + "web", "", 0, false},
		{TaskDefStatusPrefix("ACTIVE") + "web!x", "", 0, false},
		{TaskDefStatusPrefix("ACTIVE") + "!0000000001", "", 0, false},
	}
	for _, tt := range tests {
		f, r, ok := ParseTaskDefStatusKey("ACTIVE", tt.key)
		if f != tt.family || r != tt.rev || ok != tt.ok {
			t.Errorf("ParseTaskDefStatusKey(%q) = %q,%d,%v", tt.key, f, r, ok)
		}
	}
}

type counter struct{ N int }

// Update is read-modify-write with compare-and-swap: concurrent updates of
// one record lose nothing, and an error from fn writes nothing.
func TestUpdate(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := Update(ctx, s, "/c", func(c *counter, _ bool) ([]store.Op, error) { c.N++; return nil, nil }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	c, _, err := Get[counter](ctx, s, "/c")
	if err != nil || c.N != workers*each {
		t.Fatalf("counter = %d, %v; want %d", c.N, err, workers*each)
	}
	boom := errors.New("boom")
	_, err = Update(ctx, s, "/c", func(c *counter, _ bool) ([]store.Op, error) { c.N = -1; return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if c, _, _ := Get[counter](ctx, s, "/c"); c.N != workers*each {
		t.Fatalf("failed update wrote %d", c.N)
	}
	// Extra ops commit in the same transaction, and their expectations count.
	_, err = Update(ctx, s, "/c", func(c *counter, _ bool) ([]store.Op, error) {
		c.N = 0
		return []store.Op{store.Check("/missing", 5)}, nil
	})
	if err == nil {
		t.Fatal("update with a failing check succeeded")
	}
	if c, _, _ := Get[counter](ctx, s, "/c"); c.N != workers*each {
		t.Fatalf("update with failing check wrote %d", c.N)
	}
}

func TestCountCluster(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	put := func(key, v string) {
		if _, err := s.Txn(ctx, store.Put(key, []byte(v), store.ExpectAbsent)); err != nil {
			t.Fatal(err)
		}
	}
	put(InstanceKey("c", "i1"), `{"status":"ACTIVE"}`)
	put(InstanceKey("c", "i2"), `{"status":"DRAINING"}`)
	put(InstanceKey("c", "i3"), `{"status":"INACTIVE"}`)
	put(TasksPrefix("c")+"t1", `{"lastStatus":"RUNNING","launchType":"EC2"}`)
	put(TasksPrefix("c")+"t2", `{"lastStatus":"PENDING","launchType":"FARGATE"}`)
	put(TasksPrefix("c")+"t3", `{"lastStatus":"STOPPED","launchType":"EC2"}`)
	put(ServicesPrefix("c")+"s1", `{"status":"ACTIVE","launchType":"EC2"}`)
	put(ServicesPrefix("c")+"s2", `{"status":"DRAINING","launchType":"EC2"}`)
	put(TasksPrefix("other")+"t1", `{"lastStatus":"RUNNING","launchType":"EC2"}`)
	c, err := CountCluster(ctx, s, "c")
	if err != nil {
		t.Fatal(err)
	}
	if c.RegisteredInstances != 2 || Total(c.RunningTasks) != 1 || c.PendingTasks["FARGATE"] != 1 ||
		c.ActiveServices["EC2"] != 1 || c.DrainingServices["EC2"] != 1 {
		t.Fatalf("counts = %+v", c)
	}
}

func TestSplitClusterKey(t *testing.T) {
	tests := []struct {
		key, prefix, cluster, id string
		ok                       bool
	}{
		{TaskKey("c", "t1"), AllTasksPrefix(), "c", "t1", true},
		{InstanceKey("c", "i1"), AllInstancesPrefix(), "c", "i1", true},
		{TaskPlacementKey("c", "i1"), AllTaskPlacementsPrefix(), "c", "i1", true},
		{TaskKey("c", "t1"), AllInstancesPrefix(), "", "", false},
		{AllTasksPrefix() + "c", AllTasksPrefix(), "", "", false},
		{AllTasksPrefix() + "c/", AllTasksPrefix(), "", "", false},
		{AllTasksPrefix() + "/t", AllTasksPrefix(), "", "", false},
		{AllTasksPrefix() + "c/t/x", AllTasksPrefix(), "", "", false},
	}
	for _, tt := range tests {
		c, id, ok := SplitClusterKey(tt.key, tt.prefix)
		if ok != tt.ok || (ok && (c != tt.cluster || id != tt.id)) {
			t.Errorf("SplitClusterKey(%q, %q) = %q, %q, %v", tt.key, tt.prefix, c, id, ok)
		}
	}
}
