package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/berth/berth/internal/store"
)

// replayChunk is how many revisions a watcher reads from the log per bbolt
// read transaction while replaying history.
const replayChunk = 256

// hub fans committed events out to live watchers. The committer publishes
// with non-blocking sends, so a slow watcher never stalls it.
type hub struct {
	mu       sync.Mutex
	rev      int64 // last published revision
	watchers map[*watcher]struct{}
	log      *slog.Logger
}

// watcher is one Watch call's registration.
type watcher struct {
	prefix string
	// queue holds published revisions (already filtered by prefix). The
	// hub closes it, and forgets the watcher, when it is full.
	queue chan revEvents
}

func (h *hub) init(rev int64, log *slog.Logger) {
	h.rev = rev
	h.watchers = make(map[*watcher]struct{})
	h.log = log
}

// add registers w and returns the last published revision: w will receive
// every revision after it.
func (h *hub) add(w *watcher) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers[w] = struct{}{}
	return h.rev
}

func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
}

// publish hands each revision's matching events to every watcher, in
// revision order, dropping watchers whose queue is full.
func (h *hub) publish(pubs []revEvents) {
	if len(pubs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range pubs {
		h.rev = p.rev
		for w := range h.watchers {
			events := filterEvents(p.events, w.prefix)
			if len(events) == 0 {
				continue
			}
			select {
			case w.queue <- revEvents{rev: p.rev, events: events}:
			default:
				delete(h.watchers, w)
				close(w.queue)
				h.log.Warn("store: dropping a watcher that fell behind; it must watch again",
					"prefix", w.prefix, "revision", p.rev, "buffer", cap(w.queue))
			}
		}
	}
}

// filterEvents returns the events whose key has prefix, sharing events'
// backing array when they all match.
func filterEvents(events []store.Event, prefix string) []store.Event {
	if prefix == "" {
		return events
	}
	n := 0
	for _, ev := range events {
		if strings.HasPrefix(ev.KV.Key, prefix) {
			n++
		}
	}
	if n == len(events) {
		return events
	}
	out := make([]store.Event, 0, n)
	for _, ev := range events {
		if strings.HasPrefix(ev.KV.Key, prefix) {
			out = append(out, ev)
		}
	}
	return out
}

// Watch streams events under prefix from revision from (see store.Watcher
// and the package doc for what happens to a watcher that falls behind).
func (s *Store) Watch(ctx context.Context, prefix string, from int64) (<-chan store.Event, error) {
	if from < 0 {
		return nil, fmt.Errorf("store/embedded: watch from negative revision %d", from)
	}
	w := &watcher{prefix: prefix, queue: make(chan revEvents, s.opts.WatchBuffer)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, store.ErrClosed
	}
	s.watchers.Add(1)
	published := s.hub.add(w)
	s.mu.RUnlock()

	if from > 0 {
		var compacted int64
		err := s.db.View(func(tx *bolt.Tx) error {
			compacted = getInt(tx.Bucket(bucketMeta), metaCompacted)
			return nil
		})
		if err == nil && from <= compacted {
			err = fmt.Errorf("store/embedded: watch from revision %d, history starts at %d: %w", from, compacted+1, store.ErrCompacted)
		}
		if err != nil {
			s.hub.remove(w)
			s.watchers.Done()
			return nil, err
		}
	}
	out := make(chan store.Event)
	go s.runWatcher(ctx, w, out, from, published)
	return out, nil
}

// runWatcher replays revisions [from, published] from the log, then relays
// the live queue (which holds every revision after published).
func (s *Store) runWatcher(ctx context.Context, w *watcher, out chan<- store.Event, from, published int64) {
	defer s.watchers.Done()
	defer close(out)
	defer s.hub.remove(w)

	send := func(events []store.Event) bool {
		for i, ev := range events { // ev is a copy: events are shared between watchers
			ev.Last = store.EndsRevision(events, i)
			select {
			case out <- ev:
			case <-ctx.Done():
				return false
			case <-s.closing:
				return false
			}
		}
		return true
	}
	for next := from; next > 0 && next <= published; {
		events, last, err := s.readLog(w.prefix, next, published)
		if err != nil {
			s.log.Warn("store: watch replay stopped; the watcher must watch again", "prefix", w.prefix, "from", next, "err", err)
			return
		}
		if !send(events) {
			return
		}
		next = last + 1
	}
	for {
		select {
		case re, ok := <-w.queue:
			if !ok {
				return
			}
			if re.rev < from {
				continue
			}
			if !send(re.events) {
				return
			}
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
}

// readLog reads up to replayChunk revisions from the log, starting at from
// and ending at most at to, and returns the events under prefix and the
// last revision read.
func (s *Store) readLog(prefix string, from, to int64) ([]store.Event, int64, error) {
	var (
		events []store.Event
		last   = to
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		if compacted := getInt(tx.Bucket(bucketMeta), metaCompacted); from <= compacted {
			return fmt.Errorf("revision %d: %w", from, store.ErrCompacted)
		}
		c := tx.Bucket(bucketLog).Cursor()
		n := 0
		for k, v := c.Seek(revKey(from)); k != nil && n < replayChunk; k, v = c.Next() {
			rev := int64(binary.BigEndian.Uint64(k))
			if rev > to {
				break
			}
			var err error
			if events, err = decodeEvents(events, rev, v, prefix); err != nil {
				return err
			}
			last = rev
			n++
		}
		if n == replayChunk {
			return nil
		}
		last = to // the log ended: nothing more to replay
		return nil
	})
	return events, last, err
}
