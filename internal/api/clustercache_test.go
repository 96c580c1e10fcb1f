package api

import (
	"testing"

	"github.com/berth/berth/internal/store"
)

// A record read again at the same revision comes from the cache; a new
// revision is decoded afresh; a bad record is an error, not a cached value.
func TestClusterCache(t *testing.T) {
	var cc clusterCache
	kv := store.KV{Key: "/clusters/c", Value: []byte(`{"clusterName":"c","status":"ACTIVE"}`), ModRevision: 5}
	if c, rev, err := cc.decode(kv); err != nil || c.Name != "c" || rev != 5 {
		t.Fatalf("first decode: %+v %d %v", c, rev, err)
	}
	// Same revision, other bytes: the cache answers (a revision names one value).
	if c, _, _ := cc.decode(store.KV{Key: kv.Key, Value: []byte(`{"clusterName":"other"}`), ModRevision: 5}); c.Name != "c" {
		t.Errorf("same revision decoded again: %+v", c)
	}
	if c, rev, _ := cc.decode(store.KV{Key: kv.Key, Value: []byte(`{"clusterName":"c2"}`), ModRevision: 6}); c.Name != "c2" || rev != 6 {
		t.Errorf("new revision: %+v %d", c, rev)
	}
	if _, _, err := cc.decode(store.KV{Key: kv.Key, Value: []byte(`{`), ModRevision: 7}); err == nil {
		t.Error("a bad record decoded")
	}
}
