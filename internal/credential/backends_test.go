package credential

import (
	"path/filepath"
	"testing"

	"github.com/berth/berth/internal/store/embedded"
	"github.com/berth/berth/internal/store/etcd"
	"github.com/berth/berth/internal/store/etcd/etcdtest"
)

// The registry tests also run on Berth's real backends.
func init() {
	realBackends["embedded"] = func(t *testing.T) (regStore, regStore) {
		st, err := embedded.Open(filepath.Join(t.TempDir(), "berth.db"), embedded.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return st, nopClose{st}
	}
	realBackends["etcd"] = func(t *testing.T) (regStore, regStore) {
		if testing.Short() {
			t.Skip("starts an etcd server")
		}
		srv := etcdtest.Start(t)
		return etcd.New(srv.Client(t), "/berth"), etcd.New(srv.Client(t), "/berth")
	}
}

// nopClose shares a store without closing it twice.
type nopClose struct{ regStore }

func (nopClose) Close() error { return nil }
