package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/internal/store"
)

// Prefix is where credentials live in the store: Prefix + access key ID.
const Prefix = "/credentials/"

// Key is the store key of an access key ID.
func Key(accessKeyID string) string { return Prefix + accessKeyID }

// Store is the part of store.Store a Registry uses.
type Store interface {
	store.Reader
	store.Writer
	store.Watcher
}

// Resync backoff bounds for Run.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Registry stores credentials and answers lookups. Create, Get, List and
// Delete always go to the store. Lookup and SecretKey (the
// sigv4.SecretLookup the API uses on every call) are served from an
// in-memory cache while Run keeps it synchronised by a store watch, and from
// the store otherwise, so they are correct with or without Run. It is safe
// for concurrent use.
type Registry struct {
	st  Store
	log *slog.Logger

	mu       sync.Mutex
	synced   bool
	syncedCh chan struct{} // closed while synced; replaced when sync is lost
	cache    map[string]cached
	// tombs remembers deletes (by revision) that this registry made or
	// saw, so that an older event or listing cannot bring the key back.
	tombs map[string]int64
}

type cached struct {
	cred Credential
	rev  int64 // ModRevision of the value
}

// NewRegistry returns a registry over st. A nil logger means slog.Default().
func NewRegistry(st Store, logger *slog.Logger) *Registry {
	if logger == nil {
		logger = slog.Default()
	}
	return &Registry{
		st:       st,
		log:      logger,
		syncedCh: make(chan struct{}),
		cache:    map[string]cached{},
		tombs:    map[string]int64{},
	}
}

// Create stores a new credential; it fails with ErrExists if the access
// key ID is taken and with ErrInvalid if a field is malformed.
func (r *Registry) Create(ctx context.Context, c Credential) error {
	if err := c.Validate(); err != nil {
		return err
	}
	val, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("credential: encode %s: %w", c.AccessKeyID, err)
	}
	if _, err := r.st.Txn(ctx, store.Put(Key(c.AccessKeyID), val, store.ExpectAbsent)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: %s", ErrExists, c.AccessKeyID)
		}
		return fmt.Errorf("credential: create %s: %w", c.AccessKeyID, err)
	}
	return nil
}

// Get reads one credential from the store; ErrNotFound if absent.
func (r *Registry) Get(ctx context.Context, accessKeyID string) (Credential, error) {
	c, _, err := r.get(ctx, accessKeyID)
	return c, err
}

func (r *Registry) get(ctx context.Context, accessKeyID string) (Credential, int64, error) {
	if ValidateAccessKeyID(accessKeyID) != nil {
		// Not a possible key: never let it near the store's key space.
		return Credential{}, 0, fmt.Errorf("%w: %q", ErrNotFound, accessKeyID)
	}
	kv, err := r.st.Get(ctx, Key(accessKeyID))
	if errors.Is(err, store.ErrNotFound) {
		return Credential{}, 0, fmt.Errorf("%w: %s", ErrNotFound, accessKeyID)
	}
	if err != nil {
		return Credential{}, 0, fmt.Errorf("credential: get %s: %w", accessKeyID, err)
	}
	c, err := decode(kv)
	if err != nil {
		return Credential{}, 0, err
	}
	return c, kv.ModRevision, nil
}

// List returns every credential, ordered by access key ID.
func (r *Registry) List(ctx context.Context) ([]Credential, error) {
	kvs, _, err := r.st.List(ctx, Prefix, store.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("credential: list: %w", err)
	}
	out := make([]Credential, 0, len(kvs))
	for _, kv := range kvs {
		c, err := decode(kv)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Delete removes a credential; ErrNotFound if absent. The key stops
// working on this server at once, and on others when their watch delivers
// the delete.
func (r *Registry) Delete(ctx context.Context, accessKeyID string) error {
	for attempt := 0; ; attempt++ {
		_, modRev, err := r.get(ctx, accessKeyID)
		if err != nil {
			return err
		}
		rev, err := r.st.Txn(ctx, store.Delete(Key(accessKeyID), modRev))
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue // rewritten or deleted meanwhile: look again
		}
		if err != nil {
			return fmt.Errorf("credential: delete %s: %w", accessKeyID, err)
		}
		r.mu.Lock()
		delete(r.cache, accessKeyID)
		r.tombs[accessKeyID] = rev
		r.mu.Unlock()
		return nil
	}
}

// SecretKey returns the secret of an access key, or an error wrapping
// ErrNotFound. It implements sigv4.SecretLookup.
func (r *Registry) SecretKey(ctx context.Context, accessKeyID string) (string, error) {
	c, err := r.Lookup(ctx, accessKeyID)
	if err != nil {
		return "", err
	}
	return c.SecretAccessKey, nil
}

// Lookup is Get served from the cache when Run keeps it synchronised: the
// per-request read (who signed this call, is it an admin). It fails with
// ErrNotFound like Get.
func (r *Registry) Lookup(ctx context.Context, accessKeyID string) (Credential, error) {
	r.mu.Lock()
	if r.synced {
		if e, ok := r.cache[accessKeyID]; ok {
			r.mu.Unlock()
			return e.cred, nil
		}
	}
	r.mu.Unlock()
	// Not cached (not yet seen by the watch, unknown, or not synced): the
	// store is the truth. Nothing is cached here, so this read can never
	// race a delete event into resurrecting a key.
	c, _, err := r.get(ctx, accessKeyID)
	return c, err
}

// Synced reports whether the cache is currently kept by a live watch.
func (r *Registry) Synced() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.synced
}

// WaitSynced blocks until Run has loaded the cache and is watching, or ctx
// is done.
func (r *Registry) WaitSynced(ctx context.Context) error {
	r.mu.Lock()
	ch := r.syncedCh
	r.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run keeps the SecretKey cache synchronised with the store until ctx is
// done (then it returns nil) or the store is closed (then it returns an
// error wrapping store.ErrClosed). It lists the credentials, then watches
// for changes from the listing's revision; when the watch ends or fails it
// drops the cache (lookups go to the store meanwhile) and starts again
// after a backoff.
func (r *Registry) Run(ctx context.Context) error {
	backoff := minBackoff
	for {
		wasSynced, err := r.syncOnce(ctx)
		r.unsync()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrClosed) {
			return fmt.Errorf("credential: watch: %w", err)
		}
		if wasSynced {
			backoff = minBackoff
		}
		r.log.Warn("credential cache lost its store watch; resynchronising", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// errWatchEnded: the watch channel closed while ctx was still live.
var errWatchEnded = errors.New("watch channel closed")

// syncOnce loads the cache and applies watch events until the watch ends.
// It reports whether it got as far as being synced.
func (r *Registry) syncOnce(ctx context.Context) (bool, error) {
	kvs, rev, err := r.st.List(ctx, Prefix, store.ListOptions{})
	if err != nil {
		return false, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := r.st.Watch(wctx, Prefix, rev+1)
	if err != nil {
		return false, err
	}

	r.mu.Lock()
	r.cache = make(map[string]cached, len(kvs))
	for _, kv := range kvs {
		r.applyLocked(store.Event{Type: store.EventPut, KV: kv})
	}
	r.pruneTombsLocked(rev + 1)
	r.synced = true
	close(r.syncedCh)
	r.mu.Unlock()

	for ev := range events {
		r.mu.Lock()
		r.applyLocked(ev)
		r.pruneTombsLocked(ev.KV.ModRevision)
		r.mu.Unlock()
	}
	if err := ctx.Err(); err != nil {
		return true, err
	}
	return true, errWatchEnded
}

// unsync drops the cache: without a live watch it could go stale.
func (r *Registry) unsync() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.synced {
		r.synced = false
		r.syncedCh = make(chan struct{})
	}
	r.cache = map[string]cached{}
}

// applyLocked applies one listed value or watch event, unless a newer
// value or delete of the key is already known.
func (r *Registry) applyLocked(ev store.Event) {
	id, ok := strings.CutPrefix(ev.KV.Key, Prefix)
	if !ok {
		return
	}
	rev := ev.KV.ModRevision
	if t, ok := r.tombs[id]; ok && t >= rev {
		return
	}
	if e, ok := r.cache[id]; ok && e.rev >= rev {
		return
	}
	if ev.Type == store.EventDelete {
		delete(r.cache, id)
		r.tombs[id] = rev
		return
	}
	c, err := decode(ev.KV)
	if err != nil {
		// Never serve a value we cannot read; lookups of it go to the
		// store (and fail there the same way).
		r.log.Error("credential cache: undecodable value", "key", ev.KV.Key, "err", err)
		delete(r.cache, id)
		return
	}
	r.cache[id] = cached{cred: c, rev: rev}
}

// pruneTombsLocked forgets deletes older than rev: events and listings
// arrive in revision order, so nothing older than rev can arrive any more.
func (r *Registry) pruneTombsLocked(rev int64) {
	for id, t := range r.tombs {
		if t < rev {
			delete(r.tombs, id)
		}
	}
}

func decode(kv store.KV) (Credential, error) {
	var c Credential
	if err := json.Unmarshal(kv.Value, &c); err != nil {
		return Credential{}, fmt.Errorf("credential: decode %s: %w", kv.Key, err)
	}
	return c, nil
}
