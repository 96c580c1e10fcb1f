package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/embedded"
)

// interleavingStore runs hook once, right after DeleteCluster has counted
// the cluster's instances: the moment a concurrent registration could
// commit unseen.
type interleavingStore struct {
	store.Store
	once sync.Once
	hook func()
}

func (s *interleavingStore) List(ctx context.Context, prefix string, opts store.ListOptions) ([]store.KV, int64, error) {
	kvs, rev, err := s.Store.List(ctx, prefix, opts)
	if strings.HasPrefix(prefix, state.InstancesPrefix("c")) {
		s.once.Do(s.hook)
	}
	return kvs, rev, err
}

// A container instance registered between DeleteCluster's count and its
// commit must make the delete fail (after a recount), not leave an
// INACTIVE cluster holding an ACTIVE instance.
func TestDeleteClusterRacesWithRegistration(t *testing.T) {
	for _, tt := range []struct {
		name     string
		touch    bool // the registration follows the rule (AddMembersOp)
		wantFail bool
	}{
		{"registration touches the members key", true, true},
		{"without the members key the race is lost", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { base.Close() })
			ctx := context.Background()
			op, _ := state.PutOp(state.ClusterKey("c"), ecs.Cluster{Name: "c", Status: ecs.ClusterActive}, store.ExpectAbsent)
			if _, err := base.Txn(ctx, op); err != nil {
				t.Fatal(err)
			}
			st := &interleavingStore{Store: base}
			st.hook = func() {
				kv, err := base.Get(ctx, state.ClusterKey("c"))
				if err != nil {
					t.Error(err)
					return
				}
				inst, _ := state.PutOp(state.InstanceKey("c", "i1"), ecs.ContainerInstance{ID: "i1", Cluster: "c", Status: ecs.InstanceActive}, store.ExpectAbsent)
				ops := []store.Op{inst, store.Check(state.ClusterKey("c"), kv.ModRevision)}
				if tt.touch {
					ops = append(ops, state.AddMembersOp("c"))
				}
				if _, err := base.Txn(ctx, ops...); err != nil {
					t.Error(err)
				}
			}
			h := New(Config{Store: st, Namer: arn.Namer{Region: "us-east-1", Account: "000000000000"}})
			_, err = h.deleteCluster(ctx, &wire.DeleteClusterRequest{Cluster: "c"})
			if tt.wantFail != errors.Is(err, ecs.ErrClusterContainsInstances) {
				t.Fatalf("DeleteCluster err = %v, want ClusterContainsInstances: %v", err, tt.wantFail)
			}
		})
	}
}
